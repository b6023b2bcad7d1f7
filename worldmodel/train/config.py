"""Typed training configurations, named presets, and command-line overrides.

Two top-level configs, both plain (nested) dataclasses that round-trip through JSON:

* ``TrainConfig`` for ``lsswm train`` (world model), presets ``tiny`` / ``small`` / ``paper``
  (plus ``memory``, the CPU memory experiment's size);
* ``TokenizerTrainConfig`` for ``lsswm train-tokenizer``, presets ``tiny`` / ``small`` /
  ``paper``.

Any field can be overridden as ``section.field=value`` (``--set optim.lr=3e-4``), nested as
deep as the dataclasses go (``model.d_model=256``, ``data.image_size=32``). Values are parsed
by the field's type: ints, floats, ``true``/``false``, strings, ``0.9,0.99`` for float pairs,
``2x2,4x4`` for ``model.scan_blocks`` and ``FRAMES:STEPS:BATCH,...`` for ``curriculum``
(e.g. ``curriculum=400:100000:8,800:50000:4``). See docs/training.md.

The world model's latent grid and action space are not set here: they are derived from the
tokenizer and the dataset (``model.latent_*``, ``model.action_*`` are refused as overrides).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsswm.worldmodel.config import (
    VARIANTS,
    WorldModelConfig,
    parse_scan_blocks,
    recall_recipe,
    reject_unknown_fields,
    without_unusable_fourier_keys,
)
from lsswm.worldmodel.tokenizer import TokenizerConfig


class TrainConfigError(ValueError):
    """A bad preset, override or configuration value (printed as one line by the CLI)."""

    user_facing = True


# Fields of WorldModelConfig that the trainer derives from the tokenizer and the dataset.
DERIVED_MODEL_FIELDS = (
    "latent_height",
    "latent_width",
    "latent_channels",
    "action_kind",
    "action_size",
)
ACTION_SOURCES = ("dataset", "pose")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
VIDEO_FORMATS = ("gif", "mp4")


@dataclass(frozen=True)
class Stage:
    """One curriculum stage: `steps` optimizer steps on windows of `frames` frames, with
    `batch_size` windows per step and per DDP rank."""

    frames: int
    steps: int
    batch_size: int


@dataclass(frozen=True)
class DataConfig:
    path: str = ""  # dataset folder (lsswm collect output); `--data`
    # Square frame size the models see; 0 keeps the dataset's size. Frames are area-resized
    # on the fly (e.g. 64 -> 32 for the CPU memory experiment).
    image_size: int = 0
    # Use every k-th frame. With k > 1 the dataset's per-step actions no longer lead into the
    # kept frames, so it needs actions=pose.
    frame_stride: int = 1
    # "dataset": the recorded actions; "pose": the agent's pose (x, y, cos, sin of heading,
    # from state/agent_pos and state/agent_dir) as a continuous action, as the paper conditions
    # its Memory Maze model on the camera pose.
    actions: str = "dataset"
    num_workers: int = 0  # DataLoader worker processes per rank
    # Balanced sampling of rare rewards: this fraction of each batch's windows is drawn among
    # the windows that hold a nonzero reward (uniform over reward events, then over the
    # window's starts around it); the rest as usual. 0 disables it; a dataset without any
    # reward falls back to ordinary windows.
    reward_window_fraction: float = 0.0
    # Memory Maze data only: frames whose view (same cell, heading within 10 degrees) was
    # last seen more than the model's window_frames earlier in the training window weigh
    # 1 + far_view_weight in the diffusion loss. Most frames are predictable from the last
    # few, so recall is a small share of the plain loss (docs/experiments.md, 17). 0: off.
    far_view_weight: float = 0.0


@dataclass(frozen=True)
class TokenizerSource:
    # A tokenizer checkpoint (lsswm train-tokenizer); empty: a parameter-free patchify
    # tokenizer with `patch_size`, its latent normalisation calibrated on the data.
    path: str = ""
    patch_size: int = 8
    calibration_frames: int = 256


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.01  # matrices and embeddings only (not biases/norms)
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    ema_decay: float = 0.999  # EMA of the weights, used for sampling/eval; 0 disables


@dataclass(frozen=True)
class LogConfig:
    log_every: int = 10  # TensorBoard scalars and progress-bar refresh
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    video_every: int = 1000  # 0: only at the end
    video_context: int = 8  # frames observed before imagining
    video_frames: int = 16  # frames imagined with the real actions
    video_format: str = "gif"
    denoising_steps: int = 0  # 0: the model config's default
    progress: bool = True


@dataclass(frozen=True)
class SystemConfig:
    device: str = "auto"  # auto: cuda when available, else cpu
    precision: str = "auto"  # auto: bf16 autocast on cuda, fp32 on cpu
    compile: bool = False  # torch.compile the training step (Inductor; CUDA or CPU)
    threads: int = 0  # torch.set_num_threads on cpu (0: torch's default)
    peak_tflops: float = 989.0  # the accelerator's dense bf16 peak, for the MFU estimate


@dataclass(frozen=True)
class DebugConfig:
    """Hooks that let tests exercise failure paths; 0 disables each."""

    nan_at_step: int = 0  # the loss of this step becomes NaN (the NaN stop)
    kill_at_step: int = 0  # stop abruptly after this step, saving nothing (as if killed)


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "tiny"
    run_dir: str = ""
    seed: int = 0
    init: str = ""  # world model checkpoint whose weights start a fresh run
    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    tokenizer: TokenizerSource = field(default_factory=TokenizerSource)
    data: DataConfig = field(default_factory=DataConfig)
    curriculum: tuple[Stage, ...] = (Stage(16, 100, 4),)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    system: SystemConfig = field(default_factory=SystemConfig)
    debug: DebugConfig = field(default_factory=DebugConfig)

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.curriculum)


@dataclass(frozen=True)
class TokenizerTrainConfig:
    preset: str = "tiny"
    run_dir: str = ""
    seed: int = 0
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 1000
    batch_size: int = 64  # frames per step and rank
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, ema_decay=0.0))
    log: LogConfig = field(default_factory=lambda: LogConfig(video_every=500))
    system: SystemConfig = field(default_factory=SystemConfig)
    debug: DebugConfig = field(default_factory=DebugConfig)

    @property
    def total_steps(self) -> int:
        return self.steps

    @property
    def curriculum(self) -> tuple[Stage, ...]:
        """One stage of single frames, so both trainers share one loop (skeleton.py)."""
        return (Stage(1, self.steps, self.batch_size),)


# ---- presets ---------------------------------------------------------------------------------


def _train_presets() -> dict[str, TrainConfig]:
    tiny = TrainConfig(
        preset="tiny",
        model=WorldModelConfig(
            d_model=64, n_layers=2, n_heads=4, ssm_head_dim=16, ssm_state_size=16
        ),
        tokenizer=TokenizerSource(patch_size=8),
        data=DataConfig(image_size=32),
        curriculum=(Stage(16, 200, 4), Stage(32, 100, 2)),
        optim=OptimConfig(lr=1e-3, warmup_steps=20, ema_decay=0.99),
        log=LogConfig(log_every=5, checkpoint_every=100, video_every=0, video_frames=10),
    )
    small = TrainConfig(
        preset="small",
        model=WorldModelConfig(d_model=384, n_layers=8, n_heads=6, ssm_head_dim=64),
        tokenizer=TokenizerSource(patch_size=8),
        curriculum=(Stage(64, 15000, 16), Stage(128, 5000, 8)),
        optim=OptimConfig(lr=5e-4, warmup_steps=500, ema_decay=0.999),
        log=LogConfig(
            log_every=25, checkpoint_every=1000, video_every=2500, video_context=32, video_frames=32
        ),
    )
    # The paper holds its models at ~200M parameters and trains Memory Maze retrieval for
    # 100K iterations on 400-frame clips, then 50K on 800 (batch size unpublished: ours is
    # per GPU; scale the number of GPUs for the global batch).
    paper = TrainConfig(
        preset="paper",
        model=WorldModelConfig(d_model=768, n_layers=12, n_heads=12, ssm_head_dim=64),
        tokenizer=TokenizerSource(patch_size=8),
        curriculum=(Stage(400, 100_000, 2), Stage(800, 50_000, 1)),
        optim=OptimConfig(lr=2e-4, warmup_steps=2000, ema_decay=0.9999),
        log=LogConfig(
            log_every=50,
            checkpoint_every=2000,
            keep_checkpoints=3,
            video_every=10_000,
            video_context=400,
            video_frames=400,
            video_format="mp4",
        ),
    )
    # The CPU memory experiment (lsswm experiment memory): 32x32 frames, pose actions.
    memory = TrainConfig(
        preset="memory",
        # 32x32 frames / patch 8 = a 4x4 latent grid: blocks of 2x2 and 4x4 tokens.
        model=WorldModelConfig(
            d_model=64,
            n_layers=4,
            n_heads=4,
            ssm_head_dim=16,
            ssm_state_size=16,
            scan_blocks=((2, 2), (4, 4), (2, 2), (4, 4)),
            # Pose actions (the trainer takes the kind and size from the data again).
            action_kind="continuous",
            action_size=4,
            **recall_recipe("continuous"),
        ),
        tokenizer=TokenizerSource(patch_size=8),
        data=DataConfig(image_size=32, actions="pose"),
        curriculum=(Stage(40, 600, 8),),
        optim=OptimConfig(lr=2e-3, warmup_steps=50, ema_decay=0.99),
        log=LogConfig(
            log_every=10, checkpoint_every=200, video_every=0, video_context=20, video_frames=20
        ),
    )
    return {c.preset: c for c in (tiny, small, paper, memory)}


def _tokenizer_presets() -> dict[str, TokenizerTrainConfig]:
    tiny = TokenizerTrainConfig(
        preset="tiny",
        tokenizer=TokenizerConfig(
            image_size=32, downsample=4, latent_channels=4, base_channels=16, max_channels=32
        ),
        data=DataConfig(image_size=32),
        steps=200,
        batch_size=32,
        log=LogConfig(log_every=10, checkpoint_every=100, video_every=100),
    )
    small = TokenizerTrainConfig(
        preset="small",
        tokenizer=TokenizerConfig(
            image_size=64, downsample=8, latent_channels=4, base_channels=64, max_channels=256
        ),
        steps=20_000,
        batch_size=128,
        optim=OptimConfig(lr=5e-4, warmup_steps=500, ema_decay=0.0),
        log=LogConfig(log_every=50, checkpoint_every=2000, video_every=2000),
    )
    paper = TokenizerTrainConfig(
        preset="paper",
        tokenizer=TokenizerConfig(
            image_size=64, downsample=8, latent_channels=8, base_channels=128, max_channels=512
        ),
        steps=100_000,
        batch_size=256,
        optim=OptimConfig(lr=3e-4, warmup_steps=2000, ema_decay=0.0),
        log=LogConfig(log_every=100, checkpoint_every=5000, video_every=5000),
    )
    return {c.preset: c for c in (tiny, small, paper)}


TRAIN_PRESETS = ("tiny", "small", "paper", "memory")
TOKENIZER_PRESETS = ("tiny", "small", "paper")


def train_preset(name: str) -> TrainConfig:
    presets = _train_presets()
    if name not in presets:
        raise TrainConfigError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    return presets[name]


def tokenizer_preset(name: str) -> TokenizerTrainConfig:
    presets = _tokenizer_presets()
    if name not in presets:
        raise TrainConfigError(
            f"unknown tokenizer preset {name!r}; choose one of {', '.join(presets)}"
        )
    return presets[name]


# ---- validation -----------------------------------------------------------------------------
# Per-field ranges, checked as soon as a value is parsed (`--set`), so a bad value fails with
# the field's name before anything is built, and again on whole configs (`--config FILE`).
# Keyed by (section type, field): (test, requirement as shown to the user).
_FIELD_RULES: dict[tuple[type, str], tuple[typing.Callable[[Any], bool], str]] = {
    (TrainConfig, "seed"): (lambda v: 0 <= v < 2**63, "must be an integer in [0, 2**63)"),
    (TokenizerTrainConfig, "seed"): (lambda v: 0 <= v < 2**63, "must be an integer in [0, 2**63)"),
    (OptimConfig, "lr"): (lambda v: v > 0, "must be > 0 (e.g. 3e-4)"),
    (OptimConfig, "betas"): (
        lambda v: all(0 <= b < 1 for b in v),
        "must be two numbers in [0, 1), e.g. 0.9,0.99",
    ),
    (OptimConfig, "eps"): (lambda v: v > 0, "must be > 0 (e.g. 1e-8)"),
    (OptimConfig, "min_lr_ratio"): (lambda v: 0 <= v <= 1, "must lie in [0, 1]"),
    (OptimConfig, "warmup_steps"): (lambda v: v >= 0, "must be >= 0"),
    (OptimConfig, "weight_decay"): (lambda v: v >= 0, "must be >= 0"),
    (OptimConfig, "grad_clip"): (lambda v: v >= 0, "must be >= 0 (0 disables clipping)"),
    (OptimConfig, "ema_decay"): (lambda v: 0 <= v < 1, "must lie in [0, 1) (0 disables it)"),
}


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, tuple):
        return all(_finite(item) for item in value)
    return True


def check_field(section: Any, name: str, value: Any, key: str) -> None:
    """Refuse a value out of its field's range: non-finite floats anywhere, the ranges of
    _FIELD_RULES, and curriculum stages; the message names the field and the fix."""
    if not _finite(value):
        raise TrainConfigError(f"{key}={_show(value)} is not a finite number; give a finite value")
    rule = _FIELD_RULES.get((type(section), name))
    if rule is not None and not rule[0](value):
        raise TrainConfigError(f"{key}={_show(value)} is out of range: {key} {rule[1]}")
    if name == "curriculum" and isinstance(section, TrainConfig | TokenizerTrainConfig):
        if not value:
            raise TrainConfigError(
                "curriculum is empty; give at least one stage, e.g. --set curriculum=16:100:4"
            )
        for stage in value:
            if stage.frames < 2 or stage.steps < 1 or stage.batch_size < 1:
                raise TrainConfigError(
                    f"curriculum stage {stage.frames}:{stage.steps}:{stage.batch_size} is out "
                    "of range: FRAMES:STEPS:BATCH needs frames >= 2, steps >= 1 and batch >= 1 "
                    "(e.g. curriculum=16:100:4)"
                )


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _check_all_fields(config: Any, prefix: str = "") -> None:
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            _check_all_fields(value, f"{prefix}{f.name}.")
        else:
            check_field(config, f.name, value, f"{prefix}{f.name}")


def validate_train_config(config: TrainConfig) -> None:
    def fail(message: str) -> None:
        raise TrainConfigError(message)

    _check_all_fields(config)
    if not config.curriculum:
        fail("curriculum is empty; give at least one stage, e.g. --set curriculum=16:100:4")
    for stage in config.curriculum:
        if stage.frames < 2 or stage.steps < 1 or stage.batch_size < 1:
            fail(f"curriculum stage {stage} needs frames >= 2, steps >= 1, batch_size >= 1")
    _validate_common(config.data, config.optim, config.log, config.system)
    if config.tokenizer.patch_size < 1:
        fail("tokenizer.patch_size must be >= 1")
    if config.log.video_context < 1 or config.log.video_frames < 1:
        fail("log.video_context and log.video_frames must be >= 1")


def validate_tokenizer_train_config(config: TokenizerTrainConfig) -> None:
    _check_all_fields(config)
    if config.steps < 1 or config.batch_size < 1:
        raise TrainConfigError("steps and batch_size must be >= 1")
    _validate_common(config.data, config.optim, config.log, config.system)


def _validate_common(
    data: DataConfig, optim: OptimConfig, log: LogConfig, system: SystemConfig
) -> None:
    def fail(message: str) -> None:
        raise TrainConfigError(message)

    if data.actions not in ACTION_SOURCES:
        fail(f"data.actions={data.actions!r} must be one of {ACTION_SOURCES}")
    if data.frame_stride < 1:
        fail("data.frame_stride must be >= 1")
    if data.frame_stride > 1 and data.actions != "pose":
        fail(
            "data.frame_stride > 1 skips the recorded actions between kept frames; "
            "use data.actions=pose with it (or frame_stride=1)"
        )
    if not 0.0 <= data.reward_window_fraction <= 1.0:
        fail(f"data.reward_window_fraction must lie in [0, 1] (got {data.reward_window_fraction})")
    if data.far_view_weight < 0:
        fail(f"data.far_view_weight must be >= 0 (got {data.far_view_weight})")
    if data.image_size < 0 or data.num_workers < 0:
        fail("data.image_size and data.num_workers must be >= 0")
    if optim.lr <= 0 or not 0 <= optim.min_lr_ratio <= 1 or optim.warmup_steps < 0:
        fail("optim.lr must be > 0, optim.min_lr_ratio in [0, 1], optim.warmup_steps >= 0")
    if not 0 <= optim.ema_decay < 1:
        fail(f"optim.ema_decay must be in [0, 1) (got {optim.ema_decay})")
    if optim.grad_clip < 0:
        fail("optim.grad_clip must be >= 0 (0 disables clipping)")
    if log.log_every < 1 or log.checkpoint_every < 1 or log.keep_checkpoints < 1:
        fail("log.log_every, log.checkpoint_every and log.keep_checkpoints must be >= 1")
    if log.video_format not in VIDEO_FORMATS:
        fail(f"log.video_format must be one of {VIDEO_FORMATS}")
    if system.device not in DEVICES or system.precision not in PRECISIONS:
        fail(f"system.device must be one of {DEVICES} and system.precision one of {PRECISIONS}")


# ---- overrides ------------------------------------------------------------------------------
def apply_overrides(config: Any, overrides: list[str]) -> Any:
    """A copy of the (frozen, nested) dataclass `config` with `key=value` overrides applied."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TrainConfigError(f"override {item!r} is not of the form section.field=value")
        config = _set_path(config, key.strip().split("."), value.strip(), key.strip())
    return config


def _set_path(obj: Any, path: list[str], value: str, full_key: str) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    head = path[0]
    if head not in names:
        raise TrainConfigError(
            f"unknown config field {full_key!r}: {type(obj).__name__} has "
            f"{', '.join(sorted(names))}"
        )
    if isinstance(obj, WorldModelConfig) and head in DERIVED_MODEL_FIELDS:
        raise TrainConfigError(
            f"{full_key} is derived from the tokenizer and the dataset; change the tokenizer "
            "(tokenizer.patch_size / --tokenizer) or data.actions / data.image_size instead"
        )
    current = getattr(obj, head)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise TrainConfigError(f"{full_key!r}: {head} is a value, not a section")
        new_value = _set_path(current, path[1:], value, full_key)
    else:
        if dataclasses.is_dataclass(current):
            raise TrainConfigError(f"{full_key!r} is a section; set one of its fields")
        hint = typing.get_type_hints(type(obj))[head]
        try:
            new_value = parse_value(hint, value, head)
        except (TypeError, ValueError) as error:
            if getattr(error, "user_facing", False):
                raise
            raise TrainConfigError(f"cannot parse {full_key}={value!r}: {error}") from error
        check_field(obj, head, new_value, full_key)
    changes = {head: new_value}
    if isinstance(obj, WorldModelConfig) and head == "variant":
        changes.update(_blocks_for_variant(obj, new_value, full_key))
    if isinstance(obj, WorldModelConfig):
        changes = without_unusable_fourier_keys(obj, changes, f"{full_key}={value}")
    return dataclasses.replace(obj, **changes)


def _blocks_for_variant(model: WorldModelConfig, variant: str, key: str) -> dict[str, Any]:
    """Per-layer blocks belong to a block-wise scan (a preset may set them for the hybrid);
    switching to a variant that scans whole frames or not at all drops them, and says so."""
    layout = VARIANTS.get(variant)
    if not model.scan_blocks or layout is None or layout.scan == "block-wise":
        return {}
    blocks = ",".join(f"{b_h}x{b_w}" for b_h, b_w in model.scan_blocks)
    print(
        f"note: {key}={variant} has no block-wise scan; dropping model.scan_blocks={blocks}",
        file=sys.stderr,
    )
    return {"scan_blocks": ()}


def parse_value(hint: Any, text: str, name: str = "") -> Any:
    """Parse a command-line string into the field type `hint`."""
    if name == "scan_blocks":
        return parse_scan_blocks(text)
    if name == "curriculum":
        return parse_curriculum(text)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return parse_value(options[0], text, name)
    if hint is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if hint in (int, float, str):
        return hint(text)
    if origin is tuple:
        args = typing.get_args(hint)
        parts = [part for part in text.replace(" ", "").split(",") if part]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(args[0], part) for part in parts)
        if len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values")
        return tuple(parse_value(arg, part) for arg, part in zip(args, parts, strict=True))
    raise ValueError(f"unsupported field type {hint}")


def parse_curriculum(text: str) -> tuple[Stage, ...]:
    """'400:100000:8,800:50000:4' -> (Stage(400, 100000, 8), Stage(800, 50000, 4))."""
    stages = []
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) != 3:
            raise TrainConfigError(
                f"curriculum stage {item!r} must be FRAMES:STEPS:BATCH (e.g. 400:100000:8)"
            )
        try:
            stages.append(Stage(*(int(part) for part in parts)))
        except ValueError as error:
            raise TrainConfigError(f"curriculum stage {item!r} must be integers") from error
    return tuple(stages)


# ---- JSON -----------------------------------------------------------------------------------
def config_to_dict(config: Any) -> dict[str, Any]:
    """Nested dict of a (nested) config; the world model config in its own JSON form."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, WorldModelConfig | TokenizerConfig):
            out[f.name] = value.to_dict()
        elif dataclasses.is_dataclass(value):
            out[f.name] = config_to_dict(value)
        elif f.name == "curriculum":
            out[f.name] = [dataclasses.asdict(stage) for stage in value]
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Inverse of config_to_dict; unknown keys are an error (a newer/older lsswm wrote it)."""
    reject_unknown_fields(cls, data, TrainConfigError, cls.__name__)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if hint is WorldModelConfig:
            values[name] = WorldModelConfig.from_dict(value)
        elif hint is TokenizerConfig:
            values[name] = TokenizerConfig.from_dict(value)
        elif dataclasses.is_dataclass(hint):
            values[name] = config_from_dict(hint, value)
        elif name == "curriculum":
            values[name] = tuple(Stage(**stage) for stage in value)
        elif isinstance(value, list):
            values[name] = tuple(value)
        else:
            values[name] = value
    return cls(**values)


def config_to_json(config: Any) -> str:
    return json.dumps(config_to_dict(config), indent=2, sort_keys=True)


def load_config_file(cls: type, path: str | Path) -> Any:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise TrainConfigError(f"config file {path} does not exist") from error
    except ValueError as error:
        raise TrainConfigError(f"config file {path} is not valid JSON ({error})") from error
    return config_from_dict(cls, data)


def config_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted names of the fields whose values differ between two configs of one type."""
    left, right = config_to_dict(old), config_to_dict(new)
    return _dict_differences(left, right, prefix)


def _dict_differences(left: dict, right: dict, prefix: str) -> list[str]:
    found = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key), right.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            found += _dict_differences(a, b, name + ".")
        elif a != b:
            found.append(name)
    return found
