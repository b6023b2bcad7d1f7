"""Scoring the Memory Maze memory experiment: imagined frames by how long ago their view was
last seen, with intervals over episodes, two ablations of the far past and a cheap probe.

The evaluation set is every window of ``frames`` frames starting each ``every`` frames of the
held-out episodes (other seeds, so other mazes). A model observes the first ``context`` real
frames with their poses, then imagines the rest from the poses alone (DDIM, the stream API).

Each imagined frame is scored (PSNR, SSIM, LPIPS when its weights are present: eval.recall's
FrameScorer) and binned by the distance back to the last context frame that showed the same
*view* (same cell, heading within 10 degrees: collect.revisits.view_distances), with 95%
bootstrap intervals over episodes (eval.distance.bin_by_distance). References and ablations:

* copy last sighting: the true frame of that last sighting, scored against the truth;
* ``past="window"``: the model observes only the last ``window`` context frames;
* ``past="shuffled"``: the context frames before those come from another episode (its frames
  and poses), so only what the model carried from the far past changes;
* the probe: the posterior mean of every target frame in one pass, context clean and targets
  at full noise (teacher forced); its full-versus-window gap on views beyond the window is
  the signal of memory that costs one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsswm.collect.revisits import view_distances
from lsswm.eval.confidence import paired_difference
from lsswm.eval.distance import UNSEEN, bin_by_distance
from lsswm.worldmodel import diffusion

# Bins of the protocol: within the 10-frame window, then 11-20 (one full turn back),
# 21-50, 51-100 and beyond.
DISTANCE_EDGES = (1, 11, 21, 51, 101)
PASTS = ("full", "window", "shuffled")


@dataclass
class EvalSequences:
    frames: torch.Tensor  # (N, T, H, W, 3) uint8
    actions: torch.Tensor  # (N, T, 4) poses: x, y scaled to [-1, 1], heading (cos, sin)
    cells: np.ndarray  # (N, T, 2) int64 maze cell
    headings: np.ndarray  # (N, T) radians
    episodes: np.ndarray  # (N,) held-out episode index
    _distances: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __len__(self) -> int:
        return int(self.frames.size(0))

    def distances(self, context: int) -> np.ndarray:
        """(N, T - context) frames back to the last context frame showing the same view
        (collect.revisits.view_distances), computed once per context: every score, reference
        and video choice reads them."""
        if context not in self._distances:
            self._distances[context] = np.stack(
                [
                    view_distances(cells, headings, context)
                    for cells, headings in zip(self.cells, self.headings, strict=True)
                ]
            )
        return self._distances[context]


def evaluation_sequences(data_config: Any, frames: int, every: int) -> EvalSequences:
    """The windows of `frames` frames starting every `every` frames of the dataset at
    data_config.path (pose actions, the training image size)."""
    from lsswm.collect.windows import WindowDataset
    from lsswm.worldmodel.train.data import collate_windows, describe_data

    spec = describe_data(data_config)
    windows = WindowDataset(data_config.path, frames, state_keys=["agent_pos", "agent_dir"])
    items, episodes = [], []
    for slot, position in enumerate(windows.episode_positions):
        length = windows.manifest.records[int(position)].length + 1
        for start in range(0, length - frames + 1, every):
            items.append(windows.read(slot, start))
            episodes.append(slot)
    batch = collate_windows(items, data_config, spec)
    positions = np.stack([item["state"]["agent_pos"] for item in items])
    directions = np.stack([item["state"]["agent_dir"] for item in items])
    return EvalSequences(
        frames=batch["frames"],
        actions=batch["actions"],
        cells=np.floor(positions).astype(np.int64),
        headings=np.arctan2(directions[..., 1], directions[..., 0]),
        episodes=np.asarray(episodes, np.int64),
    )


def other_episode_rows(episodes: np.ndarray) -> np.ndarray:
    """For every sequence, the index of one from another episode (the same position in the
    next episode's run of windows), for the shuffled-past ablation."""
    count = len(episodes)
    for shift in range(1, count):
        rows = (np.arange(count) + shift) % count
        if np.all(episodes[rows] != episodes):
            return rows
    raise ValueError("the shuffled-past ablation needs sequences from at least two episodes")


def with_past(
    sequences: EvalSequences, context: int, window: int, past: str
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(frames, actions, context) as a model sees them under the `past` ablation."""
    frames, actions = sequences.frames, sequences.actions
    far = max(0, context - window)  # context frames before the attention window
    if past == "full":
        return frames, actions, context
    if past == "window":
        return frames[:, far:], actions[:, far:], context - far
    if past == "shuffled":
        other = torch.from_numpy(other_episode_rows(sequences.episodes))
        frames, actions = frames.clone(), actions.clone()
        frames[:, :far] = sequences.frames[other, :far]
        actions[:, :far] = sequences.actions[other, :far]
        return frames, actions, context
    raise ValueError(f"past must be one of {PASTS} (got {past!r})")


@torch.no_grad()
def imagine(
    model: Any,
    sequences: EvalSequences,
    context: int,
    window: int,
    denoising_steps: int,
    past: str = "full",
    seed: int = 0,
    batch_size: int = 32,
    progress: Any = None,
) -> torch.Tensor:
    """Imagined uint8 frames (N, T - context, H, W, 3); the same DDIM noise for every model
    and ablation (seeded per batch)."""
    from lsswm.worldmodel.train.video import imagine_after_context

    frames, actions, observed = with_past(sequences, context, window, past)
    out = []
    for start in range(0, len(sequences), batch_size):
        part = slice(start, start + batch_size)
        out.append(
            imagine_after_context(
                model, frames[part], actions[part], observed, denoising_steps, seed + start
            )
        )
        if progress is not None:
            progress.update(frames[part].size(0))
    return torch.cat(out)


@torch.no_grad()
def probe(
    model: Any,
    sequences: EvalSequences,
    context: int,
    window: int,
    past: str = "full",
    seed: int = 7,
    batch_size: int = 32,
) -> torch.Tensor:
    """Teacher-forced posterior mean of every target frame in one pass: context clean, targets
    at full noise (the same noise for every model). uint8 (N, T - context, H, W, 3)."""
    frames, actions, observed = with_past(sequences, context, window, past)
    out = []
    for start in range(0, len(sequences), batch_size):
        part = slice(start, start + batch_size)
        latents = model.tokenizer.encode(frames[part])
        levels = torch.zeros(latents.shape[:2])
        levels[:, observed:] = 1.0
        generator = torch.Generator().manual_seed(seed + start)
        noise = torch.randn(latents.shape, generator=generator)
        noisy = diffusion.add_noise(latents, noise, levels)
        velocity = model.world_model(noisy, levels, actions[part]).prediction
        clean = diffusion.clean_from_velocity(noisy, velocity, levels)
        out.append(model.tokenizer.decode_uint8(clean[:, observed:]))
    return torch.cat(out)


def last_sighting_frames(sequences: EvalSequences, context: int) -> torch.Tensor:
    """The true frame of each target's last sighting in the context (the target itself where
    it has none: those frames fall in the unseen bin, which the table leaves blank)."""
    distances = sequences.distances(context)
    out = sequences.frames[:, context:].clone()
    for i, j in zip(*np.nonzero(distances != UNSEEN), strict=True):
        out[i, j] = sequences.frames[i, context + j - distances[i, j]]
    return out


def score(
    generated: torch.Tensor,
    sequences: EvalSequences,
    context: int,
    window: int,
    scorer: Any,
    blank_unseen: bool = False,
) -> dict[str, Any]:
    """Per distance bin and within/beyond the window: mean, 95% interval over episodes, and
    the per-episode means that paired comparisons use. blank_unseen: leave the unseen bin's
    metrics empty (the copy reference has nothing to copy there)."""
    truth = sequences.frames[:, context:]
    distances = sequences.distances(context).reshape(-1)
    flat = generated.reshape(-1, *generated.shape[2:]).numpy()
    values = scorer(flat, truth.reshape(-1, *truth.shape[2:]).numpy())
    episodes = np.repeat(sequences.episodes, truth.size(1))
    result = {
        "by_distance": bin_by_distance(distances, values, DISTANCE_EDGES, episodes),
        "by_window": {
            row["label"]: row
            for row in bin_by_distance(distances, values, (1, window + 1), episodes)
        },
    }
    if blank_unseen:
        for row in [*result["by_distance"], *result["by_window"].values()]:
            if row["label"] == "unseen":
                row.update({k: None for k in row if k not in ("label", "lo", "hi", "count")})
    return result


def window_rows(result: dict[str, Any], window: int) -> dict[str, dict[str, Any]]:
    """{"within", "beyond", "unseen"} rows of a score() result."""
    rows = result["by_window"]
    return {
        "within": rows[f"1-{window}"],
        "beyond": rows[f">={window + 1}"],
        "unseen": rows["unseen"],
    }


def gain(
    a: dict[str, Any], b: dict[str, Any], window: int, metric: str = "psnr"
) -> dict[str, Any] | None:
    """a - b on views last seen beyond the window: mean and paired 95% interval."""
    return paired_difference(
        window_rows(a, window)["beyond"][f"{metric}_by_episode"],
        window_rows(b, window)["beyond"][f"{metric}_by_episode"],
    )


def best_revisit_sequence(sequences: EvalSequences, context: int, window: int) -> int:
    """The sequence whose imagined frames hold the most views last seen beyond the window
    (the one the side-by-side video shows)."""
    distances = sequences.distances(context)
    return int(np.argmax((distances > window).sum(axis=1)))


def write_revisit_video(
    path: Path,
    sequences: EvalSequences,
    context: int,
    imagined: dict[str, torch.Tensor],
    row: int,
) -> Path:
    """truth | each model, at one revisit sequence (eval.videos' side-by-side format)."""
    from lsswm.eval.videos import write_comparison_video

    frames = sequences.frames[row].numpy()
    return write_comparison_video(
        path,
        frames[:context],
        frames[context:],
        {name: frames_[row].numpy() for name, frames_ in imagined.items()},
        fps=4,
        scale=4,
        context_frames=12,
    )
