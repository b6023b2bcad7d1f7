"""Run-directory checkpoints: written atomically, loaded without executing code.

Layout of a run directory (see docs/training.md)::

    RUN/config.json                      the resolved training config
    RUN/checkpoints/latest.json          {"step": N, "name": "step_00000N"}  (written last)
    RUN/checkpoints/step_00000N/
        model.safetensors                training weights (+ tokenizer), load_world_model()
        ema.safetensors                  EMA weights (+ tokenizer): use these to sample/eval
        train_state.pt                   step, data position, optimizer, scheduler, RNG;
                                         torch.load(..., weights_only=True)

A checkpoint folder is assembled under ``.tmp-step_*`` and renamed into place, then
``latest.json`` is replaced atomically: a kill at any moment leaves the previous checkpoint
intact and ``latest.json`` pointing at a complete folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# The run folder layout and its reader (latest_checkpoint) belong to the checkpoint API.
from lsswm.worldmodel.checkpoint import CHECKPOINTS_DIRNAME, LATEST_NAME, STATE_FILE, STEP_DIR

CONFIG_NAME = "config.json"


class TrainCheckpointError(ValueError):
    user_facing = True


def step_folder_name(step: int) -> str:
    return f"step_{step:08d}"


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIRNAME


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not fsync directories
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp-{path.name}")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync(path.parent)


def write_checkpoint(
    run_dir: str | Path,
    step: int,
    write_weights: Callable[[Path], None],
    train_state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint `step`: `write_weights(folder)` puts the safetensors files into the
    folder, `train_state` goes to train_state.pt. Keeps the newest `keep` checkpoints."""
    root = checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = step_folder_name(step)
    temporary = root / f".tmp-{name}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    write_weights(temporary)
    torch.save(train_state, temporary / STATE_FILE)
    for path in temporary.iterdir():
        _fsync(path)
    _fsync(temporary)
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.rename(temporary, final)
    _fsync(root)
    atomic_write_text(root / LATEST_NAME, json.dumps({"step": step, "name": name}) + "\n")
    _prune(root, keep, protect=name)
    return final


def _prune(root: Path, keep: int, protect: str) -> None:
    found = sorted(
        (int(match.group(1)), path.name)
        for path in root.iterdir()
        if (match := STEP_DIR.fullmatch(path.name)) and path.is_dir()
    )
    for _, name in found[: max(0, len(found) - keep)]:
        if name != protect:
            shutil.rmtree(root / name, ignore_errors=True)


def load_train_state(folder: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The train_state.pt of a checkpoint folder (weights_only: no code runs on load)."""
    path = Path(folder) / STATE_FILE
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as error:
        raise TrainCheckpointError(f"{path} is missing; the checkpoint is incomplete") from error
