"""How well a score ranks rare real events (target hits): AUROC, and precision and recall
at a threshold. Used by the reward head's fit (agents.critic_returns) and by
``lsswm eval reward``."""

from __future__ import annotations

import numpy as np


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores higher than a
    random negative (ties count half), from average ranks. NaN without both classes."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    # Average (1-based) ranks: every run of equal scores gets the mean of its ranks.
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    rank_sum = ranks[labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def precision_recall(
    scores: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[float, float]:
    """Precision and recall of ``scores > threshold`` (precision NaN when nothing fires)."""
    predicted = np.asarray(scores).ravel() > threshold
    labels = np.asarray(labels, dtype=bool).ravel()
    hits = int((predicted & labels).sum())
    precision = hits / int(predicted.sum()) if predicted.any() else float("nan")
    recall = hits / int(labels.sum()) if labels.any() else float("nan")
    return precision, recall
