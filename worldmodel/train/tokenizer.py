"""`lsswm train-tokenizer`: train the convolutional frame tokenizer (autoencoder).

    result = train_tokenizer(config)   # config: TokenizerTrainConfig

Frames are drawn as one-frame windows of collect's WindowDataset (deterministic, sharded by
rank), resized to tokenizer.image_size by data.image_size when set. The loss is the
tokenizer's own reconstruction loss (L1 + MSE). Same machinery as the world model trainer:
AdamW + warmup + cosine, grad clipping, bf16 autocast / compile on CUDA, DDP, NaN stop,
atomic checkpoints and exact resume. Every checkpoint recalibrates the latent normalisation
(latent_mean/std) on a fixed sample of frames; the finished run exports
RUN/tokenizer.safetensors for `lsswm train --tokenizer`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lsswm.worldmodel.checkpoint import load_tokenizer, save_tokenizer
from lsswm.worldmodel.tokenizer import Tokenizer
from lsswm.worldmodel.train.checkpoint import (
    CONFIG_NAME,
    atomic_write_text,
    checkpoints_dir,
    resumable_checkpoint,
    step_folder_name,
    write_checkpoint,
)
from lsswm.worldmodel.train.config import (
    TokenizerTrainConfig,
    TrainConfigError,
    config_differences,
    config_to_json,
    load_config_file,
    validate_tokenizer_train_config,
)
from lsswm.worldmodel.train.data import (
    DataMismatchError,
    WindowBatches,
    derive_seed,
    describe_data,
    draw_calibration_frames,
)
from lsswm.worldmodel.train.runtime import (
    Runtime,
    SimulatedKill,
    TrainingDiverged,
    any_rank,
    autocast,
    barrier,
    build_optimizer,
    build_scheduler,
    restore_optimization,
    setup_runtime,
    shutdown_runtime,
    stop_requests,
)

TOKENIZER_FILE = "tokenizer.safetensors"
CALIBRATION_FRAMES = 512
RESUME_MUTABLE_PREFIXES = ("log.", "system.", "debug.", "optim.", "data.num_workers", "data.path")


@dataclass
class TokenizerTrainResult:
    run_dir: Path
    step: int
    finished: bool
    interrupted: bool
    last_psnr: float | None
    export: Path | None


class _LossModule(nn.Module):
    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.tokenizer.loss(frames)


def train_tokenizer(config: TokenizerTrainConfig) -> TokenizerTrainResult:
    validate_tokenizer_train_config(config)
    if not config.run_dir:
        raise TrainConfigError("no run directory; pass --run-dir DIR")
    runtime = setup_runtime(config.system)
    try:
        return _TokenizerTrainer(config, runtime).run()
    finally:
        shutdown_runtime(runtime)


class _TokenizerTrainer:
    def __init__(self, config: TokenizerTrainConfig, runtime: Runtime) -> None:
        self.runtime = runtime
        self.run_dir = Path(config.run_dir)
        self.spec = describe_data(config.data)
        size = self.spec.image_shape[0]
        if config.tokenizer.image_size != size:
            raise DataMismatchError(
                f"tokenizer.image_size={config.tokenizer.image_size} but the dataset gives "
                f"{size}x{size} frames (after data.image_size); set "
                f"--set tokenizer.image_size={size} or --set "
                f"data.image_size={config.tokenizer.image_size}"
            )
        if config.tokenizer.kind != "conv":
            raise TrainConfigError("only tokenizer.kind=conv has weights to train")
        self.checkpoint, state = resumable_checkpoint(self.run_dir)
        if self.checkpoint is not None:
            saved = load_config_file(TokenizerTrainConfig, self.run_dir / CONFIG_NAME)
            differing = [
                name
                for name in config_differences(saved, config)
                if not name.startswith(RESUME_MUTABLE_PREFIXES) and name != "run_dir"
            ]
            if differing:
                raise TrainConfigError(
                    f"{self.run_dir} holds a tokenizer run with a different configuration "
                    f"({', '.join(differing)} differ); re-run the command that started it, "
                    "or choose a new --run-dir"
                )
            tokenizer = load_tokenizer(self.checkpoint / TOKENIZER_FILE)
        else:
            torch.manual_seed(derive_seed(config.seed, "train", 1 << 22))
            tokenizer = Tokenizer(config.tokenizer)
        if runtime.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / CONFIG_NAME, config_to_json(config) + "\n")
        self.config = config
        self.tokenizer = tokenizer.to(runtime.device)
        self.optimizer = build_optimizer(self.tokenizer, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.steps, config.optim)
        self.step, self.position = 0, (0, 0)  # position: (epoch, next batch)
        if state is not None:
            self.step = int(state["step"])
            self.position = tuple(int(v) for v in state["position"])
            self.scheduler = restore_optimization(self.optimizer, state, config.steps, config.optim)
        module: nn.Module = _LossModule(self.tokenizer)
        if runtime.distributed:
            module = nn.parallel.DistributedDataParallel(
                module, device_ids=[runtime.device.index] if runtime.is_cuda else None
            )
        if runtime.compile:
            module = torch.compile(module)
        self.module = module
        self.calibration = draw_calibration_frames(
            config.data, self.spec, CALIBRATION_FRAMES, config.seed
        )

    def save_checkpoint(self) -> Path | None:
        path = None
        if self.runtime.is_main:
            self.tokenizer.calibrate(self.calibration.to(self.runtime.device))
            metadata = {"train_step": str(self.step)}
            state = {
                "step": self.step,
                "position": list(self.position),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": {"torch": torch.get_rng_state()},
            }
            path = write_checkpoint(
                self.run_dir,
                self.step,
                lambda folder: save_tokenizer(folder / TOKENIZER_FILE, self.tokenizer, metadata),
                state,
                keep=self.config.log.keep_checkpoints,
            )
        # Every rank tracks the checkpoint (same path), so all take the same barriers.
        self.checkpoint = checkpoints_dir(self.run_dir) / step_folder_name(self.step)
        barrier(self.runtime)
        return path

    def run(self) -> TokenizerTrainResult:
        config, runtime = self.config, self.runtime
        if self.step >= config.steps:
            return self._finish(None, interrupted=False)
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        writer = SummaryWriter(str(self.run_dir / "tensorboard")) if runtime.is_main else None
        bar = tqdm(
            total=config.steps,
            initial=self.step,
            desc="train tokenizer",
            unit="step",
            disable=not (config.log.progress and runtime.is_main),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        batches = WindowBatches(
            config.data,
            self.spec,
            1,
            config.batch_size,
            derive_seed(config.seed, "train", 0),
            runtime.rank,
            runtime.world_size,
        )
        epoch, start = self.position
        last_psnr, interrupted = None, False
        try:
            with stop_requests() as stop:
                while self.step < config.steps and not interrupted:
                    for index, batch in batches.batches(epoch, start):
                        metrics, stop_now = self._train_step(batch["frames"], stop)
                        self.position = (epoch, index + 1)
                        last_psnr = metrics["psnr"]
                        bar.update(1)
                        if self.step % config.log.log_every == 0:
                            bar.set_postfix_str(
                                f"loss {metrics['loss']:.4f} | psnr {metrics['psnr']:.2f} dB",
                                refresh=False,
                            )
                            if writer is not None:
                                for name, value in metrics.items():
                                    writer.add_scalar(f"tokenizer/{name}", value, self.step)
                        if config.debug.kill_at_step and self.step == config.debug.kill_at_step:
                            raise SimulatedKill(f"debug.kill_at_step={self.step}")
                        if stop_now:
                            interrupted = True
                            break
                        if config.log.video_every and self.step % config.log.video_every == 0:
                            self._write_sample(batch["frames"])
                        if self.step % config.log.checkpoint_every == 0:
                            self.save_checkpoint()
                        if self.step >= config.steps:
                            break
                    else:
                        epoch, start = epoch + 1, 0
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        return self._finish(last_psnr, interrupted)

    def _train_step(self, frames: torch.Tensor, stop: list[bool]) -> tuple[dict[str, float], bool]:
        config, runtime = self.config, self.runtime
        frames = frames.to(runtime.device).reshape(-1, *frames.shape[-3:])
        self.tokenizer.train()
        with autocast(runtime):
            loss, metrics = self.module(frames)
        if config.debug.nan_at_step and self.step + 1 == config.debug.nan_at_step:
            loss = loss * float("nan")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = config.optim.grad_clip if config.optim.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.tokenizer.parameters(), max_norm)
        finite = bool(torch.isfinite(loss).item() and torch.isfinite(grad_norm).item())
        diverged, stop_now = any_rank(runtime, [not finite, stop[0]])
        if diverged:
            where = self.checkpoint or "none (no checkpoint was written yet)"
            raise TrainingDiverged(
                f"tokenizer training diverged: loss {float(loss)} / gradient norm "
                f"{float(grad_norm)} at step {self.step + 1}; stopped before applying it. Last "
                f"good checkpoint: {where}. Lower optim.lr (now {config.optim.lr}) and re-run "
                "the same command with that --set to resume from it"
            )
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        values = {name: float(value) for name, value in metrics.items()}
        values["grad_norm"] = float(grad_norm)
        values["lr"] = self.optimizer.param_groups[0]["lr"]
        return values, stop_now

    @torch.no_grad()
    def _write_sample(self, frames: torch.Tensor) -> None:
        """RUN/samples/step_N.png: originals (top row) over reconstructions (bottom row)."""
        if not self.runtime.is_main:
            return
        import imageio.v3 as iio

        originals = frames.reshape(-1, *frames.shape[-3:])[:8].to(self.runtime.device)
        self.tokenizer.eval()
        reconstructed = self.tokenizer.decode_uint8(self.tokenizer.encode(originals))
        rows = [
            np.concatenate(list(row.cpu().numpy()), axis=1) for row in (originals, reconstructed)
        ]
        path = self.run_dir / "samples" / f"step_{self.step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, np.concatenate(rows, axis=0))

    def _finish(self, last_psnr: float | None, interrupted: bool) -> TokenizerTrainResult:
        if self.checkpoint is None or self.checkpoint.name != step_folder_name(self.step):
            self.save_checkpoint()
        export = None
        if not interrupted and self.runtime.is_main:
            export = self.run_dir / TOKENIZER_FILE
            save_tokenizer(export, self.tokenizer, {"train_step": str(self.step)})
            print(f"done: {self.step} steps; tokenizer -> {export}", file=sys.stderr)
        elif interrupted and self.runtime.is_main:
            print(
                f"interrupted at step {self.step}; checkpoint saved. Re-run the same command "
                "to resume.",
                file=sys.stderr,
            )
        barrier(self.runtime)
        return TokenizerTrainResult(
            self.run_dir, self.step, not interrupted, interrupted, last_psnr, export
        )
