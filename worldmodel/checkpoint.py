"""Self-describing checkpoints: safetensors weights with the config JSON in the metadata.

Loading needs nothing but the file (no pickle, no code execution), like nanoGPT's
checkpoints carry their model args:

    save_world_model("model.safetensors", model)   # WorldModel or FrameWorldModel
    model = load_world_model("model.safetensors")  # the same type back

Metadata keys: "lsswm_format" ("world_model" | "tokenizer"), "world_model_config",
"tokenizer_config" (JSON strings), plus the trainer's entries, read back typed by
:func:`training_metadata` (the data the model was trained on, its step).

This module is the one place that knows checkpoints: the files, a training run folder's
layout (:func:`resolve_checkpoint_path`: run folder -> file), the training metadata, and the
device a checkpoint is loaded onto (:func:`resolve_device`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.frame_model import FrameWorldModel
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig

FORMAT_KEY = "lsswm_format"
WORLD_MODEL_CONFIG_KEY = "world_model_config"
TOKENIZER_CONFIG_KEY = "tokenizer_config"
# What the trainer adds (worldmodel/train/loop.py), read back by training_metadata().
META_IMAGE_SHAPE = "train_image_shape"  # JSON list: the dataset's frame shape
META_ACTION_SPACE = "train_action_space"  # JSON: the dataset's action space
META_DATA = "train_data"  # JSON: how the trainer fed the data (TrainData)
META_STEP = "train_step"
# sha256 over the tensors (name, dtype, shape, bytes; sorted by name), written on save and
# checked on load; files written before it existed have none and load unchecked.
WEIGHTS_HASH_KEY = "weights_sha256"

# A training run folder (docs/training.md): RUN/world_model.safetensors (the exported EMA
# model) and RUN/checkpoints/{latest.json, step_N/{model,ema}.safetensors, train_state.pt}.
EXPORT_NAME = "world_model.safetensors"
CHECKPOINTS_DIRNAME = "checkpoints"
LATEST_NAME = "latest.json"
MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
STATE_FILE = "train_state.pt"
STEP_DIR = re.compile(r"step_(\d{8,})")


class CheckpointError(ValueError):
    user_facing = True


def weights_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """The digest of the tensors' contents (CPU tensors), independent of the file layout."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous()
        header = f"{name}|{str(tensor.dtype).removeprefix('torch.')}|{list(tensor.shape)}\n"
        digest.update(header.encode("utf-8"))
        digest.update(memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def _write(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {**metadata, WEIGHTS_HASH_KEY: weights_sha256(tensors)}
    temporary = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, temporary, metadata)
        os.replace(temporary, path)  # a crash mid-write never leaves a half checkpoint
    except BaseException:
        temporary.unlink(missing_ok=True)  # a failed write (full disk) leaves no partial file
        raise


def _prefixed(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": tensor for name, tensor in module.state_dict().items()}


def read_metadata(path: str | Path) -> dict[str, str]:
    """The checkpoint's metadata (configs as JSON strings) without reading the weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types for bad files
        raise CheckpointError(
            f"{path} is not a safetensors checkpoint ({error}); pass a .safetensors file "
            "written by lsswm"
        ) from error
    if FORMAT_KEY not in metadata:
        raise CheckpointError(f"{path} has no lsswm metadata; it was not written by lsswm")
    return metadata


def read_world_model_config(path: str | Path) -> WorldModelConfig:
    """The world-model config a checkpoint carries, without reading its weights."""
    metadata = read_metadata(path)
    if WORLD_MODEL_CONFIG_KEY not in metadata:
        raise CheckpointError(
            f"{path} holds a {metadata[FORMAT_KEY]!r}, not a world model; pass a world model"
        )
    return WorldModelConfig.from_json(metadata[WORLD_MODEL_CONFIG_KEY])


def save_world_model(
    path: str | Path,
    model: WorldModel | FrameWorldModel,
    extra_metadata: dict[str, str] | None = None,
) -> None:
    metadata = dict(extra_metadata or {})
    metadata[FORMAT_KEY] = "world_model"
    if isinstance(model, FrameWorldModel):
        world_model, tokenizer = model.world_model, model.tokenizer
        tensors = _prefixed(world_model, "world_model") | _prefixed(tokenizer, "tokenizer")
        metadata[TOKENIZER_CONFIG_KEY] = tokenizer.config.to_json()
    else:
        world_model = model
        tensors = _prefixed(world_model, "world_model")
    metadata[WORLD_MODEL_CONFIG_KEY] = world_model.config.to_json()
    _write(path, tensors, metadata)


def _load_checked(
    path: str | Path, metadata: dict[str, str], device: str | torch.device
) -> dict[str, torch.Tensor]:
    """The file's tensors on `device`, after checking them against the stored sha256."""
    tensors = load_file(str(path), device="cpu")
    expected = metadata.get(WEIGHTS_HASH_KEY)
    if expected is not None and weights_sha256(tensors) != expected:
        raise CheckpointError(
            f"{path} fails its integrity check (the weights' sha256 differs from the one "
            "stored when it was saved: the file is corrupted); restore it from a copy, or use "
            "an earlier checkpoint of the run"
        )
    if torch.device(device).type != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_world_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> WorldModel | FrameWorldModel:
    """Rebuild the saved model from the file alone: a FrameWorldModel when it was saved with
    its tokenizer, else a WorldModel. Weights load strictly (every tensor must match)."""
    metadata = read_metadata(path)
    if metadata[FORMAT_KEY] != "world_model":
        raise CheckpointError(
            f"{path} holds a {metadata[FORMAT_KEY]!r}, not a world model; use load_tokenizer"
        )
    tensors = _load_checked(path, metadata, device)
    world_model = WorldModel(WorldModelConfig.from_json(metadata[WORLD_MODEL_CONFIG_KEY]))
    world_model.load_state_dict(_strip(tensors, "world_model"), strict=True)
    world_model.to(device)
    if TOKENIZER_CONFIG_KEY not in metadata:
        return world_model
    tokenizer = Tokenizer(TokenizerConfig.from_dict(json.loads(metadata[TOKENIZER_CONFIG_KEY])))
    tokenizer.load_state_dict(_strip(tensors, "tokenizer"), strict=True)
    return FrameWorldModel(world_model, tokenizer.to(device))


def save_tokenizer(
    path: str | Path, tokenizer: Tokenizer, extra_metadata: dict[str, str] | None = None
) -> None:
    metadata = dict(extra_metadata or {})
    metadata[FORMAT_KEY] = "tokenizer"
    metadata[TOKENIZER_CONFIG_KEY] = tokenizer.config.to_json()
    _write(path, _prefixed(tokenizer, "tokenizer"), metadata)


def load_tokenizer(path: str | Path, device: str | torch.device = "cpu") -> Tokenizer:
    """A tokenizer from a tokenizer checkpoint or from a FrameWorldModel checkpoint."""
    metadata = read_metadata(path)
    if TOKENIZER_CONFIG_KEY not in metadata:
        raise CheckpointError(f"{path} holds no tokenizer; pass a tokenizer checkpoint")
    tensors = _load_checked(path, metadata, device)
    tokenizer = Tokenizer(TokenizerConfig.from_dict(json.loads(metadata[TOKENIZER_CONFIG_KEY])))
    tokenizer.load_state_dict(_strip(tensors, "tokenizer"), strict=True)
    return tokenizer.to(device)


# ---- training metadata --------------------------------------------------------------------
@dataclass(frozen=True)
class TrainData:
    """How the trainer fed the data (``data.*`` of the run): every ``frame_stride``-th frame,
    resized to ``image_size`` (0: the data's own size), with the recorded actions
    (``"dataset"``) or the agent's pose (``"pose"``) as actions."""

    frame_stride: int = 1
    image_size: int = 0
    actions: str = "dataset"

    @classmethod
    def from_json(cls, text: str | None) -> TrainData:
        try:
            data = json.loads(text or "{}")
        except ValueError:
            data = {}
        return cls(
            frame_stride=int(data.get("frame_stride", 1) or 1),
            image_size=int(data.get("image_size", 0) or 0),
            actions=str(data.get("actions", "dataset") or "dataset"),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "actions": self.actions,
                "frame_stride": self.frame_stride,
                "image_size": self.image_size,
            }
        )


@dataclass(frozen=True)
class TrainingMetadata:
    """What a checkpoint says about its training: the dataset's frame shape and action
    space (None when not recorded), how the data was fed, and the step."""

    image_shape: tuple[int, ...] | None = None
    action_space: dict[str, Any] | None = None
    data: TrainData = field(default_factory=TrainData)
    step: int | None = None

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> TrainingMetadata:
        shape = json.loads(metadata[META_IMAGE_SHAPE]) if META_IMAGE_SHAPE in metadata else None
        if shape is None and TOKENIZER_CONFIG_KEY in metadata:
            size = json.loads(metadata[TOKENIZER_CONFIG_KEY])["image_size"]
            shape = (size, size, 3)
        space = json.loads(metadata[META_ACTION_SPACE]) if META_ACTION_SPACE in metadata else None
        step = int(metadata[META_STEP]) if META_STEP in metadata else None
        return cls(
            image_shape=tuple(shape) if shape else None,
            action_space=space,
            data=TrainData.from_json(metadata.get(META_DATA)),
            step=step,
        )

    def to_metadata(self) -> dict[str, str]:
        metadata = {}
        if self.image_shape is not None:
            metadata[META_IMAGE_SHAPE] = json.dumps(list(self.image_shape))
        if self.action_space is not None:
            metadata[META_ACTION_SPACE] = json.dumps(self.action_space)
        metadata[META_DATA] = self.data.to_json()
        if self.step is not None:
            metadata[META_STEP] = str(self.step)
        return metadata


def training_metadata(path: str | Path) -> TrainingMetadata:
    """The training metadata of a checkpoint file or training run folder."""
    return TrainingMetadata.from_metadata(read_metadata(resolve_checkpoint_path(path)))


# ---- run folders --------------------------------------------------------------------------
def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None when it has none."""
    root = Path(run_dir) / CHECKPOINTS_DIRNAME
    pointer = root / LATEST_NAME
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["name"]
        except (ValueError, KeyError) as error:
            raise CheckpointError(
                f"{pointer} is unreadable ({error}); delete it to resume from the newest "
                "complete step_* folder"
            ) from error
        folder = root / name
        if (folder / STATE_FILE).is_file():
            return folder
    # No (valid) pointer: fall back to the newest folder that has its state file.
    candidates = sorted(
        (int(match.group(1)), path)
        for path in (root.iterdir() if root.is_dir() else [])
        if (match := STEP_DIR.fullmatch(path.name)) and (path / STATE_FILE).is_file()
    )
    return candidates[-1][1] if candidates else None


def checkpoint_step(folder: str | Path) -> int:
    """The training step of a checkpoint folder (RUN/checkpoints/step_00000200 -> 200)."""
    match = STEP_DIR.fullmatch(Path(folder).name)
    if match is None:
        raise CheckpointError(f"{folder} is not a checkpoint folder (step_NNNNNNNN)")
    return int(match.group(1))


def latest_step(run_dir: str | Path) -> int:
    """The step of a run's newest complete checkpoint; 0 when it has none."""
    latest = latest_checkpoint(run_dir)
    return 0 if latest is None else checkpoint_step(latest)


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A .safetensors file, or a training run folder: its exported model
    (RUN/world_model.safetensors, EMA weights), else its latest checkpoint's EMA weights,
    else that checkpoint's training weights."""
    path = Path(path)
    if path.is_dir() and (path / EXPORT_NAME).is_file():
        return path / EXPORT_NAME
    if path.is_dir():
        folder = latest_checkpoint(path) if (path / CHECKPOINTS_DIRNAME).is_dir() else path
        for candidate in (EMA_FILE, MODEL_FILE):
            if folder is not None and (folder / candidate).is_file():
                return folder / candidate
        raise CheckpointError(
            f"{path} holds no {EMA_FILE} or {MODEL_FILE} checkpoint; pass a training run "
            "folder with a finished checkpoint, or the .safetensors file"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path")
    return path


# ---- devices ------------------------------------------------------------------------------
def resolve_device(name: str = "auto") -> torch.device:
    """The device a ``--device`` value names; ``auto``: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CheckpointError(f"--device {name}: no CUDA device here; use --device cpu")
    return torch.device(name)
