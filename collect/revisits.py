"""Revisit distances: how many frames ago the agent was last at the same place.

A place is a (cell, heading bin) pair: the maze cell ``floor(agent_pos)`` and the heading
quantised into ``heading_bins`` sectors (default 4, i.e. within 45 degrees of one of the
four axis directions), so that two frames of the same place look roughly the same way.
For a frame t at place p, its revisit distance is ``t - e`` where e is the last frame
before the agent's current uninterrupted stay at p in which it was also at p; frames of a
first visit have none. Distances beyond the model's 10-frame attention window are what a
long-memory world model has to recall (``lsswm data revisits`` plots their histogram).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.dataset import open_dataset
from lsswm.collect.errors import DatasetError

ATTENTION_WINDOW = 10  # frames: chunks of 5, attending to the previous chunk (Po et al. 2025)


def place_keys(agent_pos: np.ndarray, agent_dir: np.ndarray, heading_bins: int = 4) -> np.ndarray:
    """(..., 3) int64 (cell x, cell y, heading bin) per frame, for (..., 2) positions and
    directions; the heading bins are those of :func:`lsswm.collect.maze_nav.heading_bin`."""
    cells = np.floor(np.asarray(agent_pos)).astype(np.int64)
    direction = np.asarray(agent_dir, dtype=np.float64)
    width = 2 * np.pi / heading_bins
    angle = np.arctan2(direction[..., 1], direction[..., 0])
    bins = np.floor((angle + width / 2) / width).astype(np.int64) % heading_bins
    return np.concatenate([cells, bins[..., None]], axis=-1)


def view_distances(
    cells: np.ndarray,
    headings: np.ndarray,
    query_start: int,
    tolerance_degrees: float = 10.0,
    reference: str = "context",
) -> np.ndarray:
    """Like eval.distance.revisit_distances, for *views*: the same maze cell with a heading within
    ``tolerance_degrees`` (the Memory Maze recall protocol's "same view"), rather than a
    quantised heading sector, so a view one full turn (about 20 steps of 18.4 degrees) later
    matches and one a single turn step away does not.

    cells (T, 2) integer cell coordinates; headings (T,) radians. Returns (T - query_start,)
    int64 distances, -1 where no earlier frame (per ``reference``) shows the view.
    """
    if reference not in ("context", "all"):
        raise ValueError(f"reference must be 'context' or 'all', got {reference!r}")
    cells, headings = np.asarray(cells), np.asarray(headings, np.float64)
    if not 0 <= query_start <= len(cells):
        raise ValueError(f"query_start={query_start} outside the {len(cells)} frames")
    tolerance = math.radians(tolerance_degrees)
    distances = np.full(len(cells) - query_start, -1, dtype=np.int64)
    for t in range(query_start, len(cells)):
        earlier = np.arange(query_start if reference == "context" else t)
        turn = np.abs(np.angle(np.exp(1j * (headings[earlier] - headings[t]))))
        same = np.all(cells[earlier] == cells[t], axis=-1) & (turn <= tolerance)
        if same.any():
            distances[t - query_start] = t - int(earlier[same][-1])
    return distances


def revisit_distances(
    agent_pos: np.ndarray, agent_dir: np.ndarray, heading_bins: int = 4
) -> np.ndarray:
    """Per-frame revisit distance (see the module docstring); -1 where there is none."""
    keys = [tuple(k) for k in place_keys(agent_pos, agent_dir, heading_bins)]
    distances = np.full(len(keys), -1, dtype=np.int64)
    last_seen: dict[tuple, int] = {}  # place -> last frame of its previous, finished stay
    stay_start_seen: int | None = None
    for t, key in enumerate(keys):
        if t == 0 or key != keys[t - 1]:
            # A new stay begins: remember when this place was seen before it, and close the
            # previous stay of the previous place.
            if t > 0:
                last_seen[keys[t - 1]] = t - 1
            stay_start_seen = last_seen.get(key)
        if stay_start_seen is not None:
            distances[t] = t - stay_start_seen
    return distances


def dataset_revisit_distances(root: str | Path, heading_bins: int = 4) -> np.ndarray:
    """All revisit distances (frames with a previous visit) over a Memory Maze dataset."""
    dataset = open_dataset(root)
    if not {"agent_pos", "agent_dir"} <= set(dataset.manifest.state_spec):
        raise DatasetError(
            f"{root} has no state/agent_pos and state/agent_dir (a Memory Maze dataset has "
            "them); revisit distances need the agent's position and heading"
        )
    parts = [
        revisit_distances(episode["state/agent_pos"], episode["state/agent_dir"], heading_bins)
        for episode in dataset
    ]
    distances = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return distances[distances > 0]


def revisit_summary(distances: np.ndarray, total_frames: int) -> dict[str, Any]:
    d = np.asarray(distances)
    return {
        "frames": int(total_frames),
        "revisit_frames": len(d),
        "median": float(np.median(d)) if len(d) else None,
        "p90": float(np.percentile(d, 90)) if len(d) else None,
        "max": int(d.max()) if len(d) else None,
        "fraction_beyond_window": float(np.mean(d > ATTENTION_WINDOW)) if len(d) else 0.0,
        "fraction_beyond_100": float(np.mean(d > 100)) if len(d) else 0.0,
        "attention_window": ATTENTION_WINDOW,
    }


def plot_revisit_histogram(distances: np.ndarray, summary: dict[str, Any], out: Path, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4), dpi=120)
    top = max(int(distances.max()) if len(distances) else 1, ATTENTION_WINDOW + 1)
    bins = np.unique(np.logspace(0, np.log10(top + 1), 40).astype(np.int64))
    axis.hist(distances, bins=bins, color="tab:blue", edgecolor="white")
    axis.set_xscale("log")
    axis.axvline(ATTENTION_WINDOW, color="tab:red", linestyle="--")
    axis.text(
        ATTENTION_WINDOW * 1.05,
        axis.get_ylim()[1] * 0.9,
        f"attention window ({ATTENTION_WINDOW} frames)",
        color="tab:red",
        fontsize=8,
    )
    axis.set_xlabel("frames since the agent was last at the same cell and heading")
    axis.set_ylabel("frames")
    if summary["median"] is None:  # short episodes may never come back to a place
        spread = "no revisits"
    else:
        beyond = summary["fraction_beyond_window"] * 100
        spread = f"median {summary['median']:.0f}, {beyond:.0f}% beyond {ATTENTION_WINDOW} frames"
    axis.set_title(
        f"{title}\n{summary['revisit_frames']} revisit frames of {summary['frames']}; {spread}",
        fontsize=9,
    )
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
