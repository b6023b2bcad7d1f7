"""Confidence intervals over episodes: the unit of independence in every suite.

Frames of one episode are correlated (same maze, same context), so a mean over frames with a
normal-approximation interval overstates certainty. Here a metric is first averaged within
each episode, then the episode means are resampled with replacement (percentile bootstrap).
A paired difference between two models scored on the same episodes resamples the same
episodes for both, so what they share cancels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RESAMPLES = 2000


def episode_means(values: np.ndarray, episodes: np.ndarray) -> dict[int, float]:
    """{episode id: mean of its values} for aligned 1-D arrays."""
    values, episodes = np.asarray(values, np.float64), np.asarray(episodes)
    return {int(e): float(values[episodes == e].mean()) for e in np.unique(episodes)}


def bootstrap_interval(
    per_episode: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of `per_episode` values."""
    per_episode = np.asarray(per_episode, np.float64)
    if len(per_episode) == 0:
        raise ValueError("a confidence interval needs at least one episode")
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(per_episode), size=(resamples, len(per_episode)))
    means = per_episode[picks].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def pooled_statistic_interval(
    episodes: list[tuple[np.ndarray, np.ndarray]],
    statistic: Any,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of a statistic of pooled frames (e.g. AUROC of
    scores at labels), resampling whole episodes: ``episodes`` holds each episode's
    (scores, labels); resamples where the statistic is undefined (NaN) are dropped, and an
    interval with no defined resample (or no episode) is NaN."""
    if not episodes:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        picks = rng.integers(len(episodes), size=len(episodes))
        scores = np.concatenate([episodes[i][0] for i in picks])
        labels = np.concatenate([episodes[i][1] for i in picks])
        values.append(statistic(scores, labels))
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def episode_mean_interval(per_episode: dict[int, float] | np.ndarray) -> dict[str, Any]:
    """{"mean", "ci95": [low, high], "episodes"}: the mean over episodes of their means."""
    values = np.asarray(
        list(per_episode.values()) if isinstance(per_episode, dict) else per_episode, np.float64
    )
    return {
        "mean": float(values.mean()),
        "ci95": list(bootstrap_interval(values)),
        "episodes": len(values),
    }


def paired_difference(a: dict[int, float], b: dict[int, float]) -> dict[str, Any] | None:
    """Mean over shared episodes of a - b, with its bootstrap interval (None if none shared)."""
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    return episode_mean_interval(np.array([a[e] - b[e] for e in shared]))
