"""`lsswm train-tokenizer`: train the convolutional frame tokenizer (autoencoder).

    result = train_tokenizer(config)   # config: TokenizerTrainConfig

Frames are drawn as one-frame windows of collect's WindowDataset (deterministic, sharded by
rank), resized to tokenizer.image_size by data.image_size when set. The loss is the
tokenizer's own reconstruction loss (L1 + MSE). The loop is the world model trainer's
(skeleton.py): AdamW + warmup + cosine, grad clipping, bf16 autocast / compile on CUDA, DDP,
NaN stop, atomic checkpoints and exact resume. Every checkpoint recalibrates the latent normalisation
(latent_mean/std) on a fixed sample of frames; the finished run exports
RUN/tokenizer.safetensors for `lsswm train --tokenizer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsswm.worldmodel.checkpoint import load_tokenizer, save_tokenizer
from lsswm.worldmodel.tokenizer import Tokenizer
from lsswm.worldmodel.train.checkpoint import CONFIG_NAME, atomic_write_text
from lsswm.worldmodel.train.config import (
    Stage,
    TokenizerTrainConfig,
    TrainConfigError,
    config_to_json,
    load_config_file,
    validate_tokenizer_train_config,
)
from lsswm.worldmodel.train.data import DataMismatchError, derive_seed, draw_calibration_frames
from lsswm.worldmodel.train.runtime import Runtime
from lsswm.worldmodel.train.skeleton import Batch, TrainerSkeleton, due, run_training

TOKENIZER_FILE = "tokenizer.safetensors"
CALIBRATION_FRAMES = 512


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
    return run_training(TokenizerTrainer, config, validate_tokenizer_train_config)


class TokenizerTrainer(TrainerSkeleton):
    """The skeleton's loop (skeleton.py) over one stage of single frames."""

    run_kind = "tokenizer run"
    activity = "tokenizer training"
    exported = "tokenizer"

    def __init__(self, config: TokenizerTrainConfig, runtime: Runtime) -> None:
        super().__init__(config, runtime)
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
        if self.checkpoint is not None:
            saved = load_config_file(TokenizerTrainConfig, self.run_dir / CONFIG_NAME)
            self.check_resumable(saved, config)
            tokenizer = load_tokenizer(self.checkpoint / TOKENIZER_FILE)
        else:
            torch.manual_seed(derive_seed(config.seed, "train", 1 << 22))
            tokenizer = Tokenizer(config.tokenizer)
        if runtime.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / CONFIG_NAME, config_to_json(config) + "\n")
        self.tokenizer = tokenizer.to(runtime.device)
        self.start_optimization(self.tokenizer, _LossModule(self.tokenizer))
        self.calibration = draw_calibration_frames(
            config.data, self.spec, CALIBRATION_FRAMES, config.seed
        )
        self.last_psnr: float | None = None

    def progress_label(self) -> str:
        return "train tokenizer"

    def loss_inputs(self, batch: Batch) -> tuple[torch.Tensor]:
        frames = batch["frames"]
        return (frames.to(self.runtime.device).reshape(-1, *frames.shape[-3:]),)

    def record(self, metrics: dict[str, float], stage: Stage, bar: Any) -> None:
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        self.last_psnr = metrics["psnr"]
        if not due(self.config.log.log_every, self.step):
            return
        bar.set_postfix_str(
            f"loss {metrics['loss']:.4f} | psnr {metrics['psnr']:.2f} dB", refresh=False
        )
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(f"tokenizer/{name}", value, self.step)

    def write_weights(self, folder: Path) -> None:
        """The tokenizer, its latent normalisation recalibrated on the fixed frames."""
        self.tokenizer.calibrate(self.calibration.to(self.runtime.device))
        save_tokenizer(folder / TOKENIZER_FILE, self.tokenizer, {"train_step": str(self.step)})

    @torch.no_grad()
    def sample(self, batch: Batch) -> None:
        """RUN/samples/step_N.png: originals (top row) over reconstructions (bottom row)."""
        if not self.runtime.is_main:
            return
        import imageio.v3 as iio

        frames = batch["frames"]
        originals = frames.reshape(-1, *frames.shape[-3:])[:8].to(self.runtime.device)
        self.tokenizer.eval()
        reconstructed = self.tokenizer.decode_uint8(self.tokenizer.encode(originals))
        rows = [
            np.concatenate(list(row.cpu().numpy()), axis=1) for row in (originals, reconstructed)
        ]
        path = self.run_dir / "samples" / f"step_{self.step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, np.concatenate(rows, axis=0))

    @property
    def export_path(self) -> Path:
        return self.run_dir / TOKENIZER_FILE

    def export(self) -> Path | None:
        if not self.runtime.is_main:
            return None
        save_tokenizer(self.export_path, self.tokenizer, {"train_step": str(self.step)})
        return self.export_path

    def result(
        self, finished: bool, interrupted: bool, export: Path | None
    ) -> TokenizerTrainResult:
        return TokenizerTrainResult(
            self.run_dir, self.step, finished, interrupted, self.last_psnr, export
        )
