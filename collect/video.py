"""Writing frames as a video (mp4 via imageio-ffmpeg, gif otherwise): the one video writer.

Every layer above (training samples, recall comparisons, navigation episodes) writes its videos
through :func:`write_video`; a dataset's episodes are shown side by side by
:func:`write_dataset_video` (`lsswm data video`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_video(
    path: str | Path, frames: np.ndarray | Sequence[np.ndarray], fps: int = 8, scale: int = 1
) -> Path:
    """Write uint8 (T, H, W, 3) frames to ``path`` (.mp4 or .gif by suffix); returns the path.

    Written to a temporary name and renamed, so a killed run never leaves a half video. When
    mp4 cannot be written (no ffmpeg backend) the video falls back to .gif beside it.
    """
    import imageio.v3 as iio

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3); got {frames.dtype} {frames.shape}")
    if scale > 1:  # nearest upscaling keeps 64x64 frames readable
        frames = upscale_nearest(frames, scale)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp4":
        # Codecs want sizes in 16-pixel macro blocks: pad rather than let imageio rescale.
        height, width = frames.shape[1:3]
        padded = np.pad(frames, ((0, 0), (0, -height % 16), (0, -width % 16), (0, 0)))
        temporary = path.with_name(f".tmp-{path.name}")
        try:
            iio.imwrite(temporary, padded, extension=".mp4", fps=fps, codec="libx264")
        except (ImportError, RuntimeError, OSError, ValueError):
            temporary.unlink(missing_ok=True)
            path = path.with_suffix(".gif")
        else:
            temporary.replace(path)
            return path
    temporary = path.with_name(f".tmp-{path.name}")
    iio.imwrite(temporary, frames, extension=".gif", duration=1000 / fps, loop=0)
    temporary.replace(path)
    return path


LABEL_STRIP = 16  # px; keeps sizes multiples of 16 for H.264 encoders
LABEL_COLOUR = (60, 60, 60)


def upscale_nearest(
    frames: np.ndarray, factor: int | None = None, min_side: int = 128
) -> np.ndarray:
    """Nearest-neighbour upscaling of (..., H, W, C) frames by an integer ``factor``; by default
    the smallest factor that makes them at least ``min_side`` pixels high (1 when they are)."""
    frames = np.asarray(frames)
    if factor is None:
        factor = max(1, -(-min_side // frames.shape[-3]))
    if factor <= 1:
        return frames
    return frames.repeat(factor, axis=-3).repeat(factor, axis=-2)


def draw_text(image: np.ndarray, text: str, x: int = 3, y: int = 2) -> np.ndarray:
    """``text`` in white on an (H, W, 3) uint8 image, Pillow's built-in font (Pillow comes with
    matplotlib and imageio)."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image))
    ImageDraw.Draw(canvas).text((x, y), text, fill=(255, 255, 255))
    return np.asarray(canvas)


def label_panels(
    frames: np.ndarray,
    labels: Sequence[str | Sequence[str]],
    *,
    gap: int = 0,
    colours: Sequence[tuple[int, int, int] | Sequence[tuple[int, int, int]]] | None = None,
    min_side: int = 128,
) -> np.ndarray:
    """Upscale (T, H, W, 3) frames holding ``len(labels)`` equal-width panels side by side
    (``gap`` pixels apart) with ``upscale_nearest``, and put a label strip above each panel.

    A label (and a colour) is one value for every frame or a sequence of one per frame, so a
    panel can say "context" then "imagined". Returns (T, LABEL_STRIP + H*k, W*k, 3) uint8."""
    frames = np.asarray(frames)
    count, _, width, _ = frames.shape
    panel = (width - gap * (len(labels) - 1)) // len(labels)
    big = upscale_nearest(frames, min_side=min_side)
    factor = big.shape[2] // width
    strips = np.zeros((count, LABEL_STRIP, big.shape[2], 3), np.uint8)
    colours = colours or [LABEL_COLOUR] * len(labels)
    for index, (label, colour) in enumerate(zip(labels, colours, strict=True)):
        left, right = index * (panel + gap) * factor, (index * (panel + gap) + panel) * factor
        for t in range(count):
            text = label if isinstance(label, str) else label[t]
            shade = colour if isinstance(colour[0], int) else colour[t]
            strips[t, :, left:right] = shade
            strips[t, :, left:right] = draw_text(strips[t, :, left:right], str(text))
    return np.concatenate([strips, big], axis=1)


def check_output_file(path: str | Path) -> None:
    """Refuse an output path that is a folder or lies under a file, with a one-line error."""
    from lsswm.collect.errors import DatasetError

    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"--out {path} is an existing folder; pass a file path (.mp4, .gif)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DatasetError(f"--out {path}: {parent} is a file, not a folder")
            break


def tile_episodes(episodes: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """Place (T_i, H, W, 3) episodes side by side; shorter ones hold their last frame."""
    length = max(len(frames) for frames in episodes)
    height = max(frames.shape[1] for frames in episodes)
    columns = []
    for index, frames in enumerate(episodes):
        held = np.concatenate([frames, np.repeat(frames[-1:], length - len(frames), axis=0)])
        held = np.pad(held, ((0, 0), (0, height - held.shape[1]), (0, 0), (0, 0)))
        columns.append(held)
        if index < len(episodes) - 1:
            columns.append(np.full((length, height, gap, 3), 255, dtype=np.uint8))
    return np.concatenate(columns, axis=2)


def write_dataset_video(
    root: str | Path,
    out: str | Path,
    episodes: Sequence[int] | None = None,
    fps: int = 8,
    scale: int = 2,
) -> Path:
    """Write a dataset's episodes (default: the first four) side by side as one video."""
    from lsswm.collect.dataset import open_dataset
    from lsswm.collect.errors import DatasetError

    dataset = open_dataset(root)
    chosen = list(episodes) if episodes is not None else list(range(min(4, len(dataset))))
    if not len(dataset):
        raise DatasetError(f"{root} holds no episodes to show; collect some first")
    if not chosen:
        raise DatasetError("--episodes was given without positions; name at least one")
    outside = [i for i in chosen if not 0 <= i < len(dataset)]
    if outside:
        raise DatasetError(
            f"--episodes {' '.join(map(str, outside))}: {root} holds {len(dataset)} episodes "
            f"(positions 0..{len(dataset) - 1}); pick positions in that range"
        )
    check_output_file(out)
    frames = [np.asarray(dataset[i]["frames"]) for i in chosen]
    return write_video(out, tile_episodes(frames), fps=fps, scale=scale)
