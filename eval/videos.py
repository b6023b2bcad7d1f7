"""Side-by-side videos: ground truth | generated (one panel per model), mp4 or gif.

Each panel is the frame upscaled (nearest neighbour) under a label strip: grey while the
frames are the observed context (every panel shows the real frame then), green over the
ground truth and red over the models while frames are generated. Only the last
``context_frames`` context frames are shown, so a video starts just before generation.
mp4 needs imageio-ffmpeg; without it the video is written as a gif.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lsswm.eval.episodes import EvalEpisode

STRIP = 16  # px; panel sizes stay multiples of 16 for H.264 encoders
GAP = 16
CONTEXT_COLOUR = (90, 90, 90)
TRUTH_COLOUR = (30, 130, 60)
MODEL_COLOUR = (170, 40, 40)
VIDEO_FORMATS = ("mp4", "gif")


def _label(strip: np.ndarray, text: str) -> np.ndarray:
    from lsswm.collect.video import draw_text  # the label writer shared with training videos

    return draw_text(strip, text)


def _enlarge(frame: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a square-ish frame to size x size."""
    if frame.shape[0] == size and frame.shape[1] == size:
        return frame
    if size % frame.shape[0] == 0 and size % frame.shape[1] == 0:
        return np.repeat(np.repeat(frame, size // frame.shape[0], 0), size // frame.shape[1], 1)
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.NEAREST))


def compose_frame(
    panels: list[tuple[str, np.ndarray]], colours: list[tuple[int, int, int]], scale: int
) -> np.ndarray:
    """Panels (label, frame HxWx3) side by side, each under its coloured label strip.

    Frames are upscaled ``scale`` times; smaller frames (a model working at a lower
    resolution) are first enlarged to the largest panel's size, nearest neighbour."""
    side = max(frame.shape[0] for _, frame in panels)
    columns = []
    for (label, frame), colour in zip(panels, colours, strict=True):
        big = _enlarge(frame, side * scale)
        strip = np.empty((STRIP, big.shape[1], 3), np.uint8)
        strip[:] = colour
        columns.append(np.concatenate([_label(strip, label), big], axis=0))
    gap = np.zeros((columns[0].shape[0], GAP, 3), np.uint8)
    out = [columns[0]]
    for column in columns[1:]:
        out += [gap, column]
    return np.concatenate(out, axis=1)


def write_comparison_video(
    path: str | Path,
    context: np.ndarray,
    truth: np.ndarray,
    generated: Mapping[str, np.ndarray],
    *,
    fps: int = 8,
    scale: int = 2,
    context_frames: int = 16,
) -> Path:
    """Write the video; returns its path (suffix .gif when mp4 is not possible)."""
    from lsswm.collect.video import write_video

    names = list(generated)
    frames = []
    shown_context = context[-context_frames:] if context_frames > 0 else context[:0]
    for t, frame in enumerate(shown_context):
        step = t - len(shown_context)
        panels = [(f"truth {step}", frame)] + [(name, frame) for name in names]
        frames.append(compose_frame(panels, [CONTEXT_COLOUR] * len(panels), scale))
    for t in range(min([len(truth), *(len(g) for g in generated.values())])):
        panels = [(f"truth +{t + 1}", truth[t])] + [(n, generated[n][t]) for n in names]
        colours = [TRUTH_COLOUR] + [MODEL_COLOUR] * len(names)
        frames.append(compose_frame(panels, colours, scale))
    return write_video(path, np.stack(frames), fps=fps)


def write_episode_videos(
    out: Path,
    stem: str,
    episodes: Sequence[EvalEpisode],
    generated: Mapping[str, Sequence[np.ndarray]],
    video_format: str,
) -> list[str]:
    """One comparison video per episode, out/videos/<stem>_<episode name>.<video_format>:
    its context and truth beside each model's frames (``generated[model][i]`` for episode
    i; a model with fewer is left out). Returns the paths relative to ``out``."""
    paths = []
    for index, episode in enumerate(episodes):
        frames = {name: made[index] for name, made in generated.items() if index < len(made)}
        path = write_comparison_video(
            out / "videos" / f"{stem}_{episode.name}.{video_format}",
            episode.frames[: episode.context],
            episode.truth,
            frames,
        )
        paths.append(str(path.relative_to(out)))
    return paths
