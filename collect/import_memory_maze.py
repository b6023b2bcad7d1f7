"""Convert Memory Maze's official offline dataset into our format.

Source layout (jurgisp/memory-maze): one ``.npz`` per trajectory anywhere under SRC (its
``train/`` and ``eval/`` folders are picked up recursively, in sorted path order), with

    image         (T+1, 64, 64, 3) uint8
    action        (T+1, 6) one-hot, action[0] all zero (no action led to the first frame)
    reward        (T+1,)
    maze_layout, agent_pos, agent_dir, targets_pos, targets_vec, target_pos, target_vec,
    target_color  per-frame probe targets

``action`` becomes ``actions`` (argmax; an all-zero row is the null action 0), ``reward``
becomes float32 ``rewards``, and every other per-frame array becomes ``state/<key>`` (the
contract's Memory Maze keys get the contract's dtypes; ``target_index`` is derived from
``targets_pos`` and ``target_pos`` when both exist). The trajectories carry no episode-end
flags: ``terminated`` is all False and ``truncated`` is True on the last frame (a recording
cut at a fixed length). We convert rather than read the .npz in place because .npz members
are zip entries: reading a window from them is not O(window).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.errors import DatasetError
from lsswm.collect.importing import EpisodeArrays, run_import
from lsswm.collect.manifest import Manifest

CONTRACT_DTYPES = {
    "agent_pos": np.float64,
    "agent_dir": np.float64,
    "target_color": np.float64,
    "target_pos": np.float64,
    "targets_pos": np.float64,
    "maze_layout": np.uint8,
    "target_index": np.int64,
}


def convert_memory_maze_npz(path: Path) -> EpisodeArrays:
    with np.load(path, allow_pickle=False) as archive:
        data = {key: archive[key] for key in archive.files}
    missing = [key for key in ("image", "action") if key not in data]
    if missing:
        raise DatasetError(
            f"{path} lacks {missing}: not a Memory Maze offline trajectory (needs image, action)"
        )
    frames = np.ascontiguousarray(data.pop("image"), dtype=np.uint8)
    num_frames = len(frames)
    action = data.pop("action")
    if action.ndim == 2:
        actions = np.argmax(action, axis=1).astype(np.int64)
        actions[action.max(axis=1) <= 0] = 0
    else:
        actions = action.astype(np.int64)
    actions[0] = 0
    rewards = np.asarray(data.pop("reward", np.zeros(num_frames)), dtype=np.float32)
    truncated = np.zeros(num_frames, dtype=bool)
    truncated[-1] = True
    arrays: EpisodeArrays = {
        "frames": frames,
        "actions": actions,
        "rewards": rewards,
        "terminated": np.zeros(num_frames, dtype=bool),
        "truncated": truncated,
    }
    if "targets_pos" in data and "target_pos" in data and "target_index" not in data:
        gaps = np.linalg.norm(data["targets_pos"] - data["target_pos"][:, None, :], axis=-1)
        data["target_index"] = np.argmin(gaps, axis=1)
    for key, value in sorted(data.items()):
        if value.ndim == 0 or len(value) != num_frames:
            continue  # not a per-frame array
        dtype = CONTRACT_DTYPES.get(key, value.dtype)
        arrays[f"state/{key}"] = np.ascontiguousarray(value, dtype=dtype)
    return arrays


def memory_maze_env_id(arrays: EpisodeArrays) -> str:
    layout = arrays.get("state/maze_layout")
    if layout is None:
        raise DatasetError("cannot tell the maze size without maze_layout; pass --env ID")
    size = layout.shape[-1]
    return f"lsswm/MemoryMaze-{size}x{size}-v0"


def import_memory_maze(
    source: str | Path, out: str | Path, env_id: str | None = None, progress: bool = True
) -> Manifest:
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source} is not a folder of Memory Maze .npz trajectories")
    files = sorted(source.rglob("*.npz"))

    def action_space(arrays: EpisodeArrays) -> dict[str, Any]:
        return {"type": "discrete", "n": 6}

    return run_import(
        Path(out),
        files,
        source,
        "memory-maze-offline",
        convert_memory_maze_npz,
        (lambda arrays: env_id) if env_id else memory_maze_env_id,
        action_space,
        progress=progress,
    )
