"""`lsswm train`: the world model trainer.

    result = train(config)          # config: TrainConfig (config.py)

What one run does (docs/training.md has the user's view):
- Describes the dataset (frame size after data.image_size, action space), builds or loads the
  frozen tokenizer and derives the world model's latent grid and action space from them;
  any mismatch with the tokenizer, an --init checkpoint or the run's own checkpoint is an
  error before the first step.
- Trains with the world model's `training_loss` (diffusion forcing + clean prefix) through
  the curriculum stages (context length per stage), AdamW with warmup + cosine decay, grad
  clipping, an EMA of the weights (saved, used for samples and the exported model), bf16
  autocast and optional torch.compile on CUDA, DDP under torchrun (data sharded by rank,
  only rank 0 writes).
- Resumes from RUN/checkpoints when re-run with the same command; the data order and the
  diffusion noise are functions of (seed, stage, epoch, batch, rank, step), so a resumed run
  continues bit for bit.
- Stops on a NaN/inf loss or gradient before applying it, naming the last good checkpoint.

The loop itself, the resume and the optimizer are the skeleton both trainers share
(skeleton.py); `Trainer` below adds what is the world model's own.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lsswm.worldmodel.checkpoint import (
    EMA_FILE,
    EXPORT_NAME,
    MODEL_FILE,
    TOKENIZER_CONFIG_KEY,
    TrainData,
    TrainingMetadata,
    load_tokenizer,
    load_world_model,
    read_metadata,
    read_world_model_config,
    save_world_model,
)
from lsswm.worldmodel.config import WorldModelConfig, without_unusable_fourier_keys
from lsswm.worldmodel.frame_model import FrameWorldModel
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig
from lsswm.worldmodel.train.checkpoint import CONFIG_NAME, atomic_write_text
from lsswm.worldmodel.train.config import (
    DERIVED_MODEL_FIELDS,
    Stage,
    TrainConfig,
    TrainConfigError,
    config_to_json,
    load_config_file,
    validate_train_config,
)
from lsswm.worldmodel.train.data import (
    DataMismatchError,
    DataSpec,
    check_data_fits,
    derive_seed,
    describe_data,
    draw_calibration_frames,
    fixed_window,
)
from lsswm.worldmodel.train.runtime import EMA, Runtime
from lsswm.worldmodel.train.skeleton import Batch, TrainerSkeleton, due, run_training


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    finished: bool  # reached the end of the curriculum
    interrupted: bool  # stopped early by SIGINT/SIGTERM (checkpoint saved)
    last_loss: float | None
    frames_per_second: float
    checkpoint: Path | None
    export: Path | None  # RUN/world_model.safetensors (EMA weights + tokenizer) when finished


class LossModule(nn.Module):
    """forward() = the world model's training loss, so DDP's gradient hooks see the call."""

    def __init__(self, model: WorldModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        latents: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        terminated: torch.Tensor,
        generator: torch.Generator,
        frame_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.model.training_loss(
            latents, actions, rewards, terminated, generator=generator, frame_weights=frame_weights
        )
        return out.total, out.metrics


def train(config: TrainConfig) -> TrainResult:
    return run_training(Trainer, config, validate_train_config)


# ---- setup helpers ------------------------------------------------------------------------
def build_tokenizer(config: TrainConfig, spec: DataSpec) -> Tokenizer:
    """The frozen tokenizer: a trained checkpoint, or patchify calibrated on the data."""
    size = spec.image_shape[0]
    if config.tokenizer.path:
        tokenizer = load_tokenizer(config.tokenizer.path)
        got = tokenizer.config.image_size
        if got != size or tokenizer.config.image_channels != 3:
            raise DataMismatchError(
                f"the tokenizer {config.tokenizer.path} encodes {got}x{got} frames but the "
                f"dataset gives {size}x{size} (after data.image_size); set "
                f"data.image_size={got} or train a tokenizer for {size}x{size} frames "
                f"(lsswm train-tokenizer --set tokenizer.image_size={size})"
            )
        return tokenizer
    patch = config.tokenizer.patch_size
    if size % patch:
        raise TrainConfigError(
            f"tokenizer.patch_size={patch} must divide the {size}x{size} frames; change it or "
            "data.image_size"
        )
    tokenizer = Tokenizer(TokenizerConfig(kind="patchify", image_size=size, downsample=patch))
    frames = draw_calibration_frames(
        config.data, spec, config.tokenizer.calibration_frames, config.seed
    )
    tokenizer.calibrate(frames)
    return tokenizer


def with_derived_fields(
    model: WorldModelConfig, fields: dict[str, Any], source: str
) -> WorldModelConfig:
    """`model` with the fields the trainer derives (DERIVED_MODEL_FIELDS) set from `source`;
    Fourier action keys are dropped, with a note, where those actions cannot use them."""
    return model.replace(**without_unusable_fourier_keys(model, fields, source))


def with_data_fields(
    config: TrainConfig, latent_shape: tuple[int, int, int], spec: DataSpec
) -> WorldModelConfig:
    """config.model with the tokenizer's latent grid and the dataset's actions."""
    height, width, channels = latent_shape
    fields = {"latent_height": height, "latent_width": width, "latent_channels": channels}
    source = f"data.actions={config.data.actions}"
    return with_derived_fields(config.model, fields | spec.action_fields(), source)


def saved_derived_fields(saved: TrainConfig) -> dict[str, Any]:
    return {name: getattr(saved.model, name) for name in DERIVED_MODEL_FIELDS}


def resolve_derived_fields(config: TrainConfig) -> tuple[TrainConfig, str | None]:
    """`config` with the model fields the trainer derives (DERIVED_MODEL_FIELDS) filled in as
    a run would: from the run's own config.json when it resumes, else the --init checkpoint,
    else the dataset and the tokenizer (its metadata only; nothing is calibrated or loaded).
    Returns (config, None), or (config unchanged, why) when they cannot be known yet."""
    saved_path = Path(config.run_dir) / CONFIG_NAME if config.run_dir else None
    if saved_path is not None and saved_path.is_file():
        saved = load_config_file(TrainConfig, saved_path)
        model = with_derived_fields(config.model, saved_derived_fields(saved), "the saved run")
        return dataclasses.replace(config, model=model), None
    if config.init:
        return dataclasses.replace(config, model=read_world_model_config(config.init)), None
    if not config.data.path:
        return config, "no dataset given (--data)"
    spec = describe_data(config.data)
    size = spec.image_shape[0]
    if config.tokenizer.path:
        metadata = read_metadata(config.tokenizer.path)
        if TOKENIZER_CONFIG_KEY not in metadata:
            raise TrainConfigError(f"{config.tokenizer.path} holds no tokenizer")
        tokenizer = TokenizerConfig.from_dict(json.loads(metadata[TOKENIZER_CONFIG_KEY]))
    else:
        if size % config.tokenizer.patch_size:
            raise TrainConfigError(
                f"tokenizer.patch_size={config.tokenizer.patch_size} must divide the "
                f"{size}x{size} frames; change it or data.image_size"
            )
        tokenizer = TokenizerConfig(
            kind="patchify", image_size=size, downsample=config.tokenizer.patch_size
        )
    model = with_data_fields(config, tokenizer.latent_shape, spec)
    return dataclasses.replace(config, model=model), None


def check_latent_grid(model: WorldModel, tokenizer: Tokenizer, what: str) -> None:
    config = model.config
    grid = (config.latent_height, config.latent_width, config.latent_channels)
    if tuple(tokenizer.config.latent_shape) != grid:
        raise DataMismatchError(
            f"{what} works on a {grid[0]}x{grid[1]}x{grid[2]} latent grid but the tokenizer "
            f"makes {'x'.join(map(str, tokenizer.config.latent_shape))} latents; use the "
            "tokenizer it was trained with (--tokenizer) or start a fresh run"
        )


def trained_on(path: Path | str) -> tuple[tuple[int, ...] | None, dict[str, Any] | None]:
    """(image shape, action space) a world model checkpoint was trained on, if recorded."""
    recorded = TrainingMetadata.from_metadata(read_metadata(path))
    return recorded.image_shape, recorded.action_space


def estimate_flops_per_step(config: Any, n_params: int, frames: int, batch: int) -> float:
    """Rough training FLOPs of one step (forward + backward): 6 * params * tokens for the
    dense layers plus the attention scores, for the MFU estimate on GPU."""
    hw = config.latent_height * config.latent_width
    tokens = batch * frames * hw
    kind = config.attention_kind
    keys = {
        "frame-local": 1.5 * config.chunk_size * hw,
        "causal-window": min(frames, config.window_frames) * hw,
        "causal": frames / 2 * hw,
    }.get(kind, 0.0)
    attention = 12 * config.n_layers * config.d_model * keys * tokens
    return 6.0 * n_params * tokens + attention


# ---- the trainer --------------------------------------------------------------------------
class Trainer(TrainerSkeleton):
    """The skeleton's loop (skeleton.py) over the curriculum, with an EMA of the weights,
    sample videos and the exported EMA model."""

    exported = "EMA model with tokenizer"

    def __init__(self, config: TrainConfig, runtime: Runtime) -> None:
        super().__init__(config, runtime)
        if self.checkpoint is not None:
            self.config, frame_model, ema_model = self._resume(config)
        else:
            self.config, frame_model = self._fresh(config)
            ema_model = None
        device = runtime.device
        self.model = frame_model.world_model.to(device)
        self.tokenizer = frame_model.tokenizer.to(device).eval().requires_grad_(False)
        shadow = WorldModel(self.config.model).to(device)
        self.ema = EMA(self.model, shadow, self.config.optim.ema_decay)
        if ema_model is not None:
            self.ema.shadow.load_state_dict(ema_model.state_dict())
        self.start_optimization(self.model, LossModule(self.model))
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.video_disabled = False
        self.frames_per_second = 0.0
        self.meter = _Meter()

    # -- configuration and state -------------------------------------------------------------
    def _fresh(self, config: TrainConfig) -> tuple[TrainConfig, FrameWorldModel]:
        spec = self.spec
        if config.init:
            init = load_world_model(config.init)
            shape, space = trained_on(config.init)
            check_data_fits(
                spec,
                shape,
                space or init.config.action_space(),
                f"the --init checkpoint {config.init}",
                "pass a dataset of the same frame size and action space (data.image_size, "
                "data.actions), or train without --init",
            )
            world_model = init.world_model if isinstance(init, FrameWorldModel) else init
            if config.tokenizer.path or not isinstance(init, FrameWorldModel):
                tokenizer = build_tokenizer(config, spec)
            else:
                tokenizer = init.tokenizer
            check_latent_grid(world_model, tokenizer, f"the --init checkpoint {config.init}")
            model_config = world_model.config
        else:
            tokenizer = build_tokenizer(config, spec)
            model_config = with_data_fields(config, tokenizer.config.latent_shape, spec)
            torch.manual_seed(derive_seed(config.seed, "train", 1 << 20))
            world_model = WorldModel(model_config)
        resolved = dataclasses.replace(config, model=model_config)
        if self.runtime.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / CONFIG_NAME, config_to_json(resolved) + "\n")
        return resolved, FrameWorldModel(world_model, tokenizer)

    def _resume(self, config: TrainConfig) -> tuple[TrainConfig, FrameWorldModel, WorldModel]:
        checkpoint = self.checkpoint
        frame_model = load_world_model(checkpoint / MODEL_FILE)
        if not isinstance(frame_model, FrameWorldModel):
            raise TrainConfigError(f"{checkpoint / MODEL_FILE} has no tokenizer; not a run dir")
        shape, space = trained_on(checkpoint / MODEL_FILE)
        check_data_fits(
            self.spec,
            shape,
            space or frame_model.config.action_space(),
            f"the checkpoint in {self.run_dir}",
            "resume with the dataset (and data.image_size / data.actions) this run was "
            "trained on, or start a new --run-dir",
        )
        saved = load_config_file(TrainConfig, self.run_dir / CONFIG_NAME)
        if config.init or saved.init:
            model = saved.model
        else:
            model = with_derived_fields(config.model, saved_derived_fields(saved), "the saved run")
        requested = dataclasses.replace(config, model=model, init=saved.init or config.init)
        self.check_resumable(saved, requested)
        if self.runtime.is_main:
            atomic_write_text(self.run_dir / CONFIG_NAME, config_to_json(requested) + "\n")
        ema_model = load_world_model(checkpoint / EMA_FILE)
        ema_world = ema_model.world_model if isinstance(ema_model, FrameWorldModel) else ema_model
        check_latent_grid(frame_model.world_model, frame_model.tokenizer, "the checkpoint")
        return requested, frame_model, ema_world

    def _metadata(self) -> dict[str, str]:
        data = self.config.data
        return TrainingMetadata(
            image_shape=tuple(self.spec.image_shape),
            action_space=self.spec.action_space,
            data=TrainData(data.frame_stride, data.image_size, data.actions),
            step=self.step,
        ).to_metadata()

    def write_weights(self, folder: Path) -> None:
        """The training weights and the EMA weights, each with the tokenizer."""
        metadata = self._metadata()
        save_world_model(folder / MODEL_FILE, FrameWorldModel(self.model, self.tokenizer), metadata)
        save_world_model(
            folder / EMA_FILE, FrameWorldModel(self.ema.shadow, self.tokenizer), metadata
        )

    @property
    def export_path(self) -> Path:
        return self.run_dir / EXPORT_NAME

    def export(self) -> Path | None:
        """The last step's sample video (unless it was just written), then the EMA model."""
        if not due(self.config.log.video_every, self.step):
            self.sample_video()
        if not self.runtime.is_main:
            return None
        model = FrameWorldModel(self.ema.shadow, self.tokenizer)
        save_world_model(self.export_path, model, self._metadata())
        return self.export_path

    # -- one step ----------------------------------------------------------------------------
    def loss_inputs(self, batch: Batch) -> tuple[Any, ...]:
        """Latents of the frames (frozen tokenizer), actions, rewards, terminations, the
        diffusion noise's generator, seeded by (seed, rank, step) for exact resume, and the
        frames' loss weights (data.far_view_weight; None when off)."""
        runtime = self.runtime
        device = runtime.device
        frames, actions, rewards, terminated = (
            batch[name].to(device, non_blocking=True)
            for name in ("frames", "actions", "rewards", "terminated")
        )
        with torch.no_grad():
            latents = self.tokenizer.encode(frames)
        generator = torch.Generator(device=device)
        generator.manual_seed(
            derive_seed(self.config.seed, "train", 1 << 21, runtime.rank, self.step)
        )
        frame_weights = None
        if "view_distance" in batch:
            far = batch["view_distance"].to(device) > self.config.model.window_frames
            frame_weights = 1.0 + self.config.data.far_view_weight * far.float()
        return latents, actions, rewards, terminated, generator, frame_weights

    def after_update(self) -> None:
        self.ema.update(self.model, self.step - 1)

    # -- logging -------------------------------------------------------------------------
    def describe(self) -> str:
        config = self.config
        model = config.model
        stages = ", ".join(
            f"{s.frames} frames x {s.steps} steps (batch {s.batch_size})" for s in config.curriculum
        )
        resumed = f"resuming {self.checkpoint} at step {self.step}; " if self.state else ""
        return (
            f"{resumed}{model.variant} world model, {self.n_params_text()} parameters, "
            f"latents {model.latent_height}x{model.latent_width}x{model.latent_channels}, "
            f"{self.spec.image_shape[0]}px frames; curriculum: {stages}; "
            f"device {self.runtime.device}"
            + (f" x {self.runtime.world_size} ranks" if self.runtime.distributed else "")
            + (" (bf16 autocast)" if self.runtime.autocast_dtype is not None else "")
        )

    def n_params_text(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"{n / 1e6:.2f}M" if n >= 1e5 else str(n)

    def progress_label(self) -> str:
        return f"train {self.config.model.variant}"

    def start_logging(self) -> None:
        super().start_logging()
        self.meter = _Meter()

    def record(self, metrics: dict[str, float], stage: Stage, bar: Any) -> None:
        """Means over the steps since the last log line, every log.log_every steps."""
        self.meter.add(metrics, stage.batch_size * stage.frames * self.runtime.world_size)
        if due(self.config.log.log_every, self.step) or self.step == self.config.total_steps:
            self._log_scalars(bar, stage)

    def _log_scalars(self, bar: Any, stage: Stage) -> None:
        means, frames_per_second = self.meter.flush()
        self.frames_per_second = frames_per_second
        lr = self.optimizer.param_groups[0]["lr"]
        bar.set_postfix_str(
            f"loss {means.get('loss', float('nan')):.4f} | {frames_per_second:.0f} frames/s | "
            f"lr {lr:.2e} | {stage.frames} fr",
            refresh=False,
        )
        if self.writer is None:
            return
        for name, value in means.items():
            self.writer.add_scalar(f"train/{name}", value, self.step)
        self.writer.add_scalar("train/lr", lr, self.step)
        self.writer.add_scalar("train/context_frames", stage.frames, self.step)
        self.writer.add_scalar("perf/frames_per_s", frames_per_second, self.step)
        if self.runtime.is_cuda and frames_per_second > 0:
            flops = estimate_flops_per_step(self.config.model, self.n_params, stage.frames, 1)
            achieved = flops / stage.frames * frames_per_second / self.runtime.world_size
            self.writer.add_scalar(
                "perf/mfu", achieved / (self.config.system.peak_tflops * 1e12), self.step
            )

    def sample(self, batch: Batch) -> None:
        self.sample_video()

    def sample_video(self) -> Path | None:
        """Write RUN/videos/step_N.(gif|mp4) (EMA weights) and log the generated PSNR."""
        if not self.runtime.is_main or self.video_disabled:
            return None
        from lsswm.collect.errors import DatasetError
        from lsswm.collect.video import write_video
        from lsswm.worldmodel.train.metrics import psnr
        from lsswm.worldmodel.train.video import imagine_after_context, side_by_side

        log = self.config.log
        try:
            clip = fixed_window(
                self.config.data,
                self.spec,
                log.video_context + log.video_frames,
                self.config.seed,
                "video",
            )
        except DatasetError as error:
            self.log_line(f"no sample videos: {error}")
            self.video_disabled = True
            return None
        model = FrameWorldModel(self.ema.shadow, self.tokenizer).eval()
        generated = imagine_after_context(
            model,
            clip["frames"],
            clip["actions"],
            log.video_context,
            log.denoising_steps or None,
            seed=self.config.seed,
        )
        truth = clip["frames"][0]
        canvas = side_by_side(truth.numpy(), generated[0].numpy(), log.video_context)
        path = self.run_dir / "videos" / f"step_{self.step:08d}.{log.video_format}"
        write_video(path, canvas, scale=2)
        value = float(psnr(generated[0], truth[log.video_context :]).mean())
        if self.writer is not None:
            self.writer.add_scalar("sample/psnr_generated", value, self.step)
        return path

    def result(self, finished: bool, interrupted: bool, export: Path | None) -> TrainResult:
        return TrainResult(
            run_dir=self.run_dir,
            step=self.step,
            total_steps=self.config.total_steps,
            finished=finished,
            interrupted=interrupted,
            last_loss=self.last_loss,
            frames_per_second=self.frames_per_second,
            checkpoint=self.checkpoint,
            export=export,
        )


class _Meter:
    """Means of the step metrics and the frame rate since the last flush."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0
        self.frames = 0
        self.start = time.perf_counter()

    def add(self, metrics: dict[str, Any], frames: int) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value)
        self.count += 1
        self.frames += frames

    def flush(self) -> tuple[dict[str, float], float]:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        means = {name: total / max(self.count, 1) for name, total in self.sums.items()}
        rate = self.frames / elapsed
        self.sums, self.count, self.frames = {}, 0, 0
        self.start = time.perf_counter()
        return means, rate
