"""Recall against distance: how far back a generated frame's place was last observed.

A *place* is the agent's maze cell plus its heading quantised to ``heading_bins`` sectors
(``place_keys`` of collect.revisits, from ``state/agent_pos`` and ``state/agent_dir``): two
frames at the same place look at the same walls, so a model that remembers the earlier frame
can redraw it.

For a generated frame t (t >= query_start) the *revisit distance* is t - s, where s is the
latest frame before query_start (the first generated frame, i.e. in the context) with the
same place. The context is what the model observed for real; earlier generated
frames are the model's own output, so they do not count as memory unless
``reference="all"``. A place never seen in the reference frames has no distance
(``UNSEEN = -1``) and lands in the "unseen" bin.

Metrics are then averaged per distance bin ``[lo, hi)``; the default edges put a bin
boundary just past the 10-frame frame-local attention window, where a windowed model must
start to fail and a model with long memory must not.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lsswm.collect.revisits import ATTENTION_WINDOW, place_keys
from lsswm.eval.confidence import episode_mean_interval, episode_means

UNSEEN = -1
HEADING_BINS = 4
# Bins [1, 11), [11, 26), ...: 1-10 frames back is inside the 10-frame attention window
# (ATTENTION_WINDOW, chunks of 5 attending to the previous chunk).
DEFAULT_DISTANCE_EDGES: tuple[int, ...] = (1, 11, 26, 51, 101, 201, 401, 801, 1601)
REFERENCES = ("context", "all")


def place_ids(
    agent_pos: np.ndarray, agent_dir: np.ndarray, heading_bins: int = HEADING_BINS
) -> np.ndarray:
    """One integer per frame naming its place (collect.revisits.place_keys): (T,) int64."""
    keys = place_keys(agent_pos, agent_dir, heading_bins)  # (T, 3): cell x, cell y, heading
    _, ids = np.unique(keys, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


def revisit_distances(
    places: Sequence[int] | np.ndarray,
    query_start: int,
    reference: str = "context",
) -> np.ndarray:
    """Distance (frames) back to the last earlier frame at the same place, for every frame
    t >= query_start; UNSEEN where there is none. Returns (T - query_start,) int64.

    reference="context": only frames before query_start count (the observed context);
    reference="all": every earlier frame counts (context and earlier generated frames).
    """
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    places = np.asarray(places)
    if not 0 <= query_start <= len(places):
        raise ValueError(f"query_start={query_start} outside the {len(places)} frames")
    last_seen: dict[int, int] = {}
    for s in range(query_start):
        last_seen[int(places[s])] = s
    distances = np.full(len(places) - query_start, UNSEEN, dtype=np.int64)
    for t in range(query_start, len(places)):
        key = int(places[t])
        if key in last_seen:
            distances[t - query_start] = t - last_seen[key]
        if reference == "all":
            last_seen[key] = t
    return distances


def bin_label(lo: float, hi: float) -> str:
    if math.isinf(hi):
        return f">={lo:g}"
    return f"{lo:g}-{hi - 1:g}" if hi - lo > 1 else f"{lo:g}"


def bin_by_distance(
    distances: np.ndarray,
    values: Mapping[str, np.ndarray],
    edges: Sequence[float] = DEFAULT_DISTANCE_EDGES,
    episodes: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Average every metric in ``values`` (arrays aligned with ``distances``) per bin.

    Bins are [edges[i], edges[i+1]) plus a last open bin [edges[-1], inf), then an "unseen"
    bin for frames without a distance. Empty bins are kept (count 0, means None) so tables of
    several models line up. Each bin: {"label", "lo", "hi" (None for inf), "count",
    "<metric>": mean, "<metric>_std": std}.

    Given ``episodes`` (the episode id of every value), "<metric>" is instead the mean over
    episodes of each episode's mean (episodes are the independent unit), each bin gets
    "episodes", and per metric "<metric>_ci95" (its 95% bootstrap interval over episodes, see
    eval.confidence) and "<metric>_by_episode" {episode: mean} for paired comparisons.
    """

    distances = np.asarray(distances)
    bounds = [*map(float, edges), math.inf]
    rows: list[dict[str, Any]] = []
    masks = []
    for lo, hi in itertools.pairwise(bounds):
        masks.append(
            (bin_label(lo, hi), lo, hi, (distances >= lo) & (distances < hi) & (distances >= 0))
        )
    masks.append(("unseen", None, None, distances == UNSEEN))
    for label, lo, hi, mask in masks:
        row: dict[str, Any] = {
            "label": label,
            "lo": lo,
            "hi": None if hi is None or math.isinf(hi) else hi,
            "count": int(mask.sum()),
        }
        for name, array in values.items():
            selected = np.asarray(array, dtype=np.float64)[mask]
            row[name] = float(selected.mean()) if len(selected) else None
            row[f"{name}_std"] = float(selected.std()) if len(selected) else None
            if episodes is not None:
                by_episode = episode_means(selected, np.asarray(episodes)[mask])
                interval = episode_mean_interval(by_episode) if by_episode else None
                row[f"{name}_ci95"] = interval["ci95"] if interval else None
                row[name] = interval["mean"] if interval else None
                row[f"{name}_by_episode"] = by_episode
                row["episodes"] = len(by_episode)
        rows.append(row)
    return rows


def split_by_window(
    distances: np.ndarray, values: Mapping[str, np.ndarray], window: int = ATTENTION_WINDOW
) -> dict[str, dict[str, Any]]:
    """Means of each metric for frames whose place was seen within ``window`` frames, beyond
    it, and never (the memory experiment's headline numbers)."""
    distances = np.asarray(distances)
    groups = {
        "within_window": (distances >= 0) & (distances <= window),
        "beyond_window": distances > window,
        "unseen": distances == UNSEEN,
    }
    out: dict[str, dict[str, Any]] = {}
    for name, mask in groups.items():
        entry: dict[str, Any] = {"count": int(mask.sum())}
        for metric, array in values.items():
            selected = np.asarray(array, dtype=np.float64)[mask]
            entry[metric] = float(selected.mean()) if len(selected) else None
        out[name] = entry
    return out


def last_filled_bin(rows_per_model: list[list[dict[str, Any]]]) -> int:
    """Index of the last distance bin (not "unseen") with frames for any model, so tables and
    plots can leave off the empty bins beyond it."""
    return max(
        (
            index
            for rows in rows_per_model
            for index, row in enumerate(rows)
            if row["label"] != "unseen" and row["count"]
        ),
        default=0,
    )
