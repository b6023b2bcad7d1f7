"""PNG figures of the suites (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

METRIC_LABELS = {
    "psnr": "PSNR (dB, higher is better)",
    "ssim": "SSIM (higher is better)",
    "lpips": "LPIPS (lower is better)",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric_vs_distance(
    curves: dict[str, list[dict[str, Any]]],
    metric: str,
    path: str | Path,
    title: str,
    window: int | None = None,
) -> Path:
    """One line per model: mean ``metric`` per revisit-distance bin (distance.bin_by_distance
    rows), like the paper's PSNR-against-frame-distance figure. Bins on a categorical axis (their
    widths differ); the unseen bin is left out (its frame count goes in the legend)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    labels: list[str] = []
    # Bins past the last non-empty one (of any model) are left off the axis.
    last = max(
        (
            i
            for rows in curves.values()
            for i, r in enumerate(rows)
            if r["label"] != "unseen" and r["count"]
        ),
        default=0,
    )
    # Points, not lines: bins are categories, and an empty bin between two filled ones must
    # not look measured. Error bars are 95% confidence intervals of the mean where the bin
    # has a spread (``<metric>_std``) and at least two frames.
    offsets = _dodge(len(curves))
    for (name, rows), offset in zip(curves.items(), offsets, strict=True):
        seen = [row for row in rows if row["label"] != "unseen"][: last + 1]
        labels = [row["label"] for row in seen]
        filled = [(i, row) for i, row in enumerate(seen) if row.get(metric) is not None]
        xs = [i + offset for i, _ in filled]
        ys = [row[metric] for _, row in filled]
        errors = [confidence_95(row, metric) or (0.0, 0.0) for _, row in filled]
        unseen = next((row["count"] for row in rows if row["label"] == "unseen"), 0)
        axis.errorbar(
            xs,
            ys,
            yerr=np.array(errors).T if any(e != (0.0, 0.0) for e in errors) else None,
            fmt="o",
            linestyle="none",
            capsize=3,
            label=f"{name} ({unseen} unseen-place frames left out)",
        )
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    if window is not None and labels:
        # Bins are [lo, hi): draw the window boundary after the last bin that ends inside it.
        inside = [
            i for i, row in enumerate(next(iter(curves.values()))) if _bin_within(row, window)
        ]
        if inside:
            axis.axvline(max(inside) + 0.5, color="tab:red", linestyle="--", linewidth=1)
            axis.text(
                max(inside) + 0.55,
                0.02,
                f"beyond the {window}-frame attention window",
                color="tab:red",
                fontsize=8,
                transform=axis.get_xaxis_transform(),
            )
    axis.set_xlabel("frames since the place was last seen in the context")
    axis.set_ylabel(METRIC_LABELS.get(metric, metric))
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def confidence_95(row: dict[str, Any], metric: str) -> tuple[float, float] | None:
    """(below, above) the bin's mean: its bootstrap interval over episodes when the row has
    one (``<metric>_ci95``), else the normal-approximation 95% interval over frames; None
    without a spread."""
    interval = row.get(f"{metric}_ci95")
    if interval is not None and row.get(metric) is not None:
        return (max(0.0, row[metric] - interval[0]), max(0.0, interval[1] - row[metric]))
    std, count = row.get(f"{metric}_std"), row.get("count") or 0
    if std is None or count < 2:
        return None
    half = 1.96 * float(std) / math.sqrt(count)
    return (half, half)


def _dodge(models: int) -> list[float]:
    """Small horizontal offsets so several models' points in one bin do not hide each other."""
    if models <= 1:
        return [0.0] * models
    width = min(0.3, 0.08 * (models - 1))
    return [-width / 2 + width * i / (models - 1) for i in range(models)]


def _bin_within(row: dict[str, Any], window: int) -> bool:
    return row["label"] != "unseen" and row.get("hi") is not None and row["hi"] - 1 <= window


def plot_scaling(
    series: dict[str, dict[str, Sequence[Any]]],
    panels: Sequence[tuple[str, str, str]],
    path: str | Path,
    title: str,
) -> Path:
    """Side-by-side log-log panels. ``series[variant][key]`` lists values; each panel is
    (x key, y key, y label); missing values (None) are skipped."""
    import matplotlib.ticker

    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), dpi=110)
    axes = [axes] if len(panels) == 1 else list(axes)
    for axis, (x_key, y_key, y_label) in zip(axes, panels, strict=True):
        for variant, values in series.items():
            pairs = [
                (x, y)
                for x, y in zip(values.get(x_key, []), values.get(y_key, []), strict=False)
                if x is not None and y is not None
            ]
            if pairs:
                axis.plot(*zip(*pairs, strict=True), marker="o", label=variant)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
        axis.xaxis.set_major_formatter(plain)
        axis.yaxis.set_major_formatter(plain)
        axis.set_xlabel(x_key.replace("_", " "))
        axis.set_ylabel(y_label)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def _save(figure: Any, path: str | Path) -> Path:
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
