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

import errno
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# The run folder layout and its reader (latest_checkpoint) belong to the checkpoint API.
from lsswm.worldmodel.checkpoint import (
    CHECKPOINTS_DIRNAME,
    LATEST_NAME,
    STATE_FILE,
    STEP_DIR,
    checkpoint_step,
    latest_checkpoint,
)

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
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise _no_space(path, len(text.encode("utf-8"))) from error
        raise
    _fsync(path.parent)


def _folder_bytes(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _no_space(path: Path, needed: int) -> TrainCheckpointError:
    try:
        free = f"; {shutil.disk_usage(path.parent).free} bytes free on that file system"
    except OSError:
        free = ""
    return TrainCheckpointError(
        f"no space left on device writing {path} (needs about {needed} bytes{free}); free "
        "some space (or move the run elsewhere) and re-run the same command to resume from "
        "the last complete checkpoint"
    )


def write_checkpoint(
    run_dir: str | Path,
    step: int,
    write_weights: Callable[[Path], None],
    train_state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint `step`: `write_weights(folder)` puts the safetensors files into the
    folder, `train_state` goes to train_state.pt. Keeps the newest `keep` checkpoints.

    On a full disk (ENOSPC) the half-written folder is removed and a TrainCheckpointError
    says so, with the bytes needed; the previous checkpoints and latest.json are untouched."""
    root = checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = step_folder_name(step)
    temporary = root / f".tmp-{name}"
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        temporary.mkdir()
        write_weights(temporary)
        torch.save(train_state, temporary / STATE_FILE)
        for path in temporary.iterdir():
            _fsync(path)
        _fsync(temporary)
    except BaseException as error:
        written = _folder_bytes(temporary)
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise _no_space(root / name, max(written, _previous_size(root))) from error
        if isinstance(error, RuntimeError) and "unexpected pos" in str(error):
            # torch.save's zip writer reports a short write this way (the OSError is lost).
            raise _no_space(root / name, max(written, _previous_size(root))) from error
        raise
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.rename(temporary, final)
    _fsync(root)
    atomic_write_text(root / LATEST_NAME, json.dumps({"step": step, "name": name}) + "\n")
    _prune(root, keep, protect=name)
    return final


def _previous_size(root: Path) -> int:
    """Bytes of the newest complete checkpoint: what the next one will need, about."""
    found = sorted(
        (int(match.group(1)), path)
        for path in root.iterdir()
        if (match := STEP_DIR.fullmatch(path.name)) and path.is_dir()
    )
    return _folder_bytes(found[-1][1]) if found else 0


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
    except RuntimeError as error:  # a truncated zip: "PytorchStreamReader failed ..."
        raise TrainCheckpointError(
            f"{path} is unreadable ({str(error).splitlines()[0]}); it is truncated or "
            "damaged: resume from an earlier checkpoint"
        ) from error


def resumable_checkpoint(
    run_dir: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Path | None, dict | None]:
    """The newest checkpoint of a run whose train_state.pt loads, with that state.

    The latest checkpoint comes first; when its train_state.pt cannot be read (truncated by
    a crash or a full disk, damaged), the next older complete checkpoint is tried, and each
    one skipped is named on stderr with the reason. Nothing is deleted: a skipped folder stays
    where it is for inspection (the next checkpoint of that step replaces it). (None, None)
    when the run has no checkpoint; a TrainCheckpointError when none of them loads."""
    latest = latest_checkpoint(run_dir)
    if latest is None:
        return None, None
    root = checkpoints_dir(run_dir)
    older = sorted(
        (
            (int(match.group(1)), path)
            for path in root.iterdir()
            if (match := STEP_DIR.fullmatch(path.name))
            and path != latest
            and (path / STATE_FILE).is_file()
        ),
        reverse=True,
    )
    limit = checkpoint_step(latest)
    candidates = [latest] + [path for step, path in older if step < limit]
    skipped = []
    for folder in candidates:
        try:
            state = load_train_state(folder, map_location)
        except Exception as error:  # torch.load raises RuntimeError, EOFError, pickle errors
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            skipped.append(f"{folder.name} ({reason})")
            print(
                f"warning: skipping checkpoint {folder}: its {STATE_FILE} is unreadable "
                f"(truncated or damaged: {reason}); trying the previous one",
                file=sys.stderr,
            )
            continue
        if skipped:
            print(
                f"warning: resuming from {folder} instead of {candidates[0].name}; the "
                "skipped folder is left in place",
                file=sys.stderr,
            )
        return folder, state
    raise TrainCheckpointError(
        f"no checkpoint of {run_dir} can be resumed: {'; '.join(skipped)}; restore a "
        f"{STATE_FILE} from a backup, or move {root} aside to start the run afresh"
    )
