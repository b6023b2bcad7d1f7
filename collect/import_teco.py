"""Convert TECO's Minecraft layout (one ``.mp4`` plus one ``.npz`` per trajectory).

Source layout (Yan et al. 2022, as also read by DFoT): ``NAME.npz`` holding an integer
``actions`` array and ``NAME.mp4`` beside it, anywhere under SRC (``train/``, ``test/``),
taken in sorted path order. The mp4 is decoded with imageio-ffmpeg (rgb24); the source is
lossy, our copy of the decoded frames is lossless.

Alignment: with as many actions as frames, ``actions[t]`` is taken as the action that led to
frame t (the first entry carries no decision; DFoT drops it too) and is stored as the null
action 0; with one action fewer than frames, ``actions[t]`` led to frame t+1 and a null
action is prepended. Any other count is an error. TECO's Minecraft has 4 discrete actions
(forward, left, right, jump): the action space is ``Discrete(num_actions)`` (default 4;
a larger action id is an error naming the option).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.errors import DatasetError
from lsswm.collect.importing import EpisodeArrays, run_import
from lsswm.collect.manifest import Manifest

DEFAULT_ENV_ID = "teco/minecraft"
TECO_NUM_ACTIONS = 4


def decode_mp4(path: Path) -> np.ndarray:
    """All frames of an mp4 as uint8 (N, H, W, 3)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in reader]
    if not frames:
        raise DatasetError(f"{path} has no video frames")
    return np.stack(frames)


def convert_teco_pair(npz_path: Path) -> EpisodeArrays:
    video_path = npz_path.with_suffix(".mp4")
    if not video_path.is_file():
        raise DatasetError(f"{npz_path} has no video {video_path.name} beside it (TECO layout)")
    with np.load(npz_path, allow_pickle=False) as archive:
        if "actions" not in archive.files:
            raise DatasetError(f"{npz_path} has no 'actions' array (has {archive.files})")
        raw_actions = np.asarray(archive["actions"]).astype(np.int64).reshape(-1)
    frames = decode_mp4(video_path)
    num_frames = len(frames)
    if len(raw_actions) == num_frames:
        actions = raw_actions.copy()
        actions[0] = 0
    elif len(raw_actions) == num_frames - 1:
        actions = np.concatenate([[0], raw_actions])
    else:
        raise DatasetError(
            f"{npz_path} has {len(raw_actions)} actions for {num_frames} video frames; expected "
            f"{num_frames} or {num_frames - 1}"
        )
    truncated = np.zeros(num_frames, dtype=bool)
    truncated[-1] = True
    return {
        "frames": frames,
        "actions": actions,
        "rewards": np.zeros(num_frames, dtype=np.float32),
        "terminated": np.zeros(num_frames, dtype=bool),
        "truncated": truncated,
    }


def import_teco(
    source: str | Path,
    out: str | Path,
    env_id: str = DEFAULT_ENV_ID,
    num_actions: int = TECO_NUM_ACTIONS,
    progress: bool = True,
) -> Manifest:
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source} is not a folder of TECO .mp4/.npz trajectories")
    files = sorted(source.rglob("*.npz"))

    def action_space(arrays: EpisodeArrays) -> dict[str, Any]:
        largest = int(arrays["actions"].max(initial=0))
        if largest >= num_actions:
            raise DatasetError(
                f"actions go up to {largest} but --num-actions is {num_actions}; raise it"
            )
        return {"type": "discrete", "n": num_actions}

    return run_import(
        Path(out),
        files,
        source,
        "teco",
        convert_teco_pair,
        lambda arrays: env_id,
        action_space,
        progress=progress,
    )
