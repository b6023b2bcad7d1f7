"""Self-describing checkpoints: safetensors weights with the config JSON in the metadata.

Loading needs nothing but the file (no pickle, no code execution), like nanoGPT's
checkpoints carry their model args:

    save_world_model("model.safetensors", model)   # WorldModel or FrameWorldModel
    model = load_world_model("model.safetensors")  # the same type back

Metadata keys: "lsswm_format" ("world_model" | "tokenizer"), "world_model_config",
"tokenizer_config" (JSON strings), plus any extra string entries the caller adds (e.g. the
training step or dataset action space).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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


class CheckpointError(ValueError):
    user_facing = True


def _write(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, temporary, metadata)
    os.replace(temporary, path)  # a crash mid-write never leaves a half checkpoint


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
    tensors = load_file(str(path), device=str(device))
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
    tensors = load_file(str(path), device=str(device))
    tokenizer = Tokenizer(TokenizerConfig.from_dict(json.loads(metadata[TOKENIZER_CONFIG_KEY])))
    tokenizer.load_state_dict(_strip(tensors, "tokenizer"), strict=True)
    return tokenizer.to(device)
