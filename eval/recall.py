"""The recall suite: spatial retrieval and reasoning, the evaluation protocols of Po et al.,
"Long-Context State-Space Video World Models" (ICCV 2025, arXiv 2505.20171).

For every checkpoint: generate the evaluation episodes' frames after their context, score each
generated frame against the ground truth (PSNR, SSIM, LPIPS when its weights are here), bin
the scores by revisit distance (distance.py), and write one comparison of all checkpoints:
``recall_<protocol>.json`` (schema in docs/evaluation.md), a table on the terminal, the
PSNR/SSIM-against-distance plots and side-by-side videos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.eval.distance import (
    DEFAULT_DISTANCE_EDGES,
    bin_by_distance,
    last_filled_bin,
    place_ids,
    revisit_distances,
    split_by_window,
)
from lsswm.eval.episodes import EpisodeSpec, EvalEpisode
from lsswm.eval.errors import MetricUnavailable
from lsswm.eval.metrics import frame_metrics
from lsswm.eval.results import new_results, seed_overlap_notes, write_results
from lsswm.eval.tables import make_table, text_table

DISTANCE_STATE = ("agent_pos", "agent_dir")
PAPER_DEFAULTS = {  # (context, generate) frames
    "retrieval": (400, 400),
    "reasoning": (576, 224),
    "minecraft": (100, 50),
}


def default_lengths(protocol: str, env_id: str | None) -> tuple[int, int]:
    """Paper defaults: Memory Maze retrieval 400/400, reasoning 576/224; Minecraft 100/50."""
    if env_id and "memorymaze" not in env_id.lower().replace("-", "").replace("_", ""):
        return PAPER_DEFAULTS["minecraft"]
    return PAPER_DEFAULTS[protocol]


@dataclass
class RecallOptions:
    edges: Sequence[float] = DEFAULT_DISTANCE_EDGES
    window: int = 10
    distance_reference: str = "context"
    videos: int = 2
    video_format: str = "mp4"
    lpips_weights: str | None = None
    fvd_i3d: str | None = None
    notes: list[str] = field(default_factory=list)


def episode_distances(episode: EvalEpisode, reference: str = "context") -> np.ndarray | None:
    """Revisit distance of every generated frame, or None without position/heading state."""
    if any(key not in episode.state for key in DISTANCE_STATE):
        return None
    places = place_ids(episode.state["agent_pos"], episode.state["agent_dir"])
    return revisit_distances(places, episode.context, reference)


class FrameScorer:
    """PSNR/SSIM always; LPIPS when its weights are found (else a note, once)."""

    def __init__(self, lpips_weights: str | None, device: str, notes: list[str]) -> None:
        self.lpips = None
        try:
            from lsswm.eval.perceptual import Lpips

            self.lpips = Lpips.load(lpips_weights).to(device)
        except MetricUnavailable as error:
            notes.append(str(error))  # printed once, with the other notes, by print_tables

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
        scores = frame_metrics(prediction, target)
        if self.lpips is not None:
            scores["lpips"] = self.lpips.distances(prediction, target)
        return scores


def score_recall(
    episodes: list[EvalEpisode],
    generated: list[np.ndarray],
    scorer: FrameScorer,
    options: RecallOptions,
) -> dict[str, Any]:
    """Every number for one model: overall means, per-distance bins, within/beyond the
    attention window, per episode, and per frame."""
    per_frame: dict[str, list[list[float]]] = {}
    distances: list[np.ndarray] = []
    has_distance = True
    per_episode = []
    for episode, frames in zip(episodes, generated, strict=True):
        scores = scorer(frames, episode.truth)
        for name, values in scores.items():
            per_frame.setdefault(name, []).append(values.tolist())
        found = episode_distances(episode, options.distance_reference)
        has_distance = has_distance and found is not None
        distances.append(found if found is not None else np.full(len(frames), -1, np.int64))
        per_episode.append(
            {
                "name": episode.name,
                "seed": episode.seed,
                "context": episode.context,
                "generated": len(frames),
                **{name: float(np.mean(values)) for name, values in scores.items()},
            }
        )
    flat = {
        name: np.concatenate([np.asarray(v) for v in lists]) for name, lists in per_frame.items()
    }
    all_distances = np.concatenate(distances)
    result: dict[str, Any] = {
        "overall": {"frames": len(all_distances), **{k: float(v.mean()) for k, v in flat.items()}},
        "per_episode": per_episode,
        "per_frame": {
            **per_frame,
            "distance": [d.tolist() for d in distances] if has_distance else None,
        },
        "by_distance": None,
        "by_window": None,
    }
    if has_distance:
        result["by_distance"] = bin_by_distance(all_distances, flat, options.edges)
        result["by_window"] = split_by_window(all_distances, flat, options.window)
    return result


def comparison_tables(records: list[dict[str, Any]], window: int) -> list[dict[str, Any]]:
    """The headline table (models side by side, paper order SSIM / LPIPS / PSNR) and, when
    distances exist, PSNR and SSIM per distance bin with one column per model."""
    rows = []
    for record in records:
        overall, by_window = record["overall"], record.get("by_window") or {}
        rows.append(
            [
                record["name"],
                record["variant"],
                record["parameters"],
                overall.get("ssim"),
                overall.get("lpips"),
                overall.get("psnr"),
                (by_window.get("within_window") or {}).get("psnr"),
                (by_window.get("beyond_window") or {}).get("psnr"),
                overall["frames"],
            ]
        )
    columns = ["model", "variant", "params", "SSIM ↑", "LPIPS ↓", "PSNR ↑"]
    columns += [f"PSNR ≤{window}f", f"PSNR >{window}f", "frames"]
    if any(record["overall"].get("fvd") is not None for record in records):
        columns.append("FVD ↓")
        for row, record in zip(rows, records, strict=True):
            row.append(record["overall"].get("fvd"))
    tables = [make_table("Recall: generated frames against ground truth", columns, rows)]
    if records and records[0].get("by_distance"):
        last = last_filled_bin([record["by_distance"] for record in records])
        for metric in ("psnr", "ssim"):
            bins = records[0]["by_distance"]
            shown = [*range(last + 1), len(bins) - 1]  # filled bins, then "unseen"
            table_rows = []
            for index in shown:
                row = bins[index]
                cells = [row["label"], row["count"]]
                cells += [record["by_distance"][index].get(metric) for record in records]
                table_rows.append(cells)
            table_columns = ["frames back", "frames"] + [record["name"] for record in records]
            tables.append(
                make_table(f"{metric.upper()} by revisit distance", table_columns, table_rows)
            )
    return tables


def write_recall_outputs(
    out: Path,
    spec: EpisodeSpec,
    episodes: list[EvalEpisode],
    records: list[dict[str, Any]],
    kept: dict[str, list[np.ndarray]],
    options: RecallOptions,
    settings: dict[str, Any],
    device: str,
) -> dict[str, Any]:
    """Tables, plots, videos and the JSON; returns the results dict (also printed)."""
    from lsswm.eval.plots import plot_metric_vs_distance
    from lsswm.eval.videos import write_episode_videos

    out.mkdir(parents=True, exist_ok=True)
    stem = f"recall_{spec.protocol}"
    mode = f", {spec.retrieval_mode}" if spec.retrieval_mode else ""
    title = f"Recall ({spec.protocol}{mode}, {spec.context} context / {spec.generate} generated)"
    results = new_results("recall", title, settings, device)
    results["protocol"] = spec.protocol
    results["episodes"] = spec.to_json(evaluated=episodes)
    results["models"] = records
    results["tables"] = comparison_tables(records, options.window)
    results["notes"] = seed_overlap_notes(records) + list(options.notes)
    if records and records[0].get("by_distance"):
        for metric in ("psnr", "ssim", "lpips"):
            if records[0]["overall"].get(metric) is None:
                continue
            curves = {r["name"]: r["by_distance"] for r in records}
            path = plot_metric_vs_distance(
                curves,
                metric,
                out / f"{stem}_{metric}_vs_distance.png",
                f"{metric.upper()} against revisit distance, {spec.protocol} "
                f"({spec.context} context / {spec.generate} generated)",
                window=options.window,
            )
            results["plots"].append(path.name)
    else:
        results["notes"].append(
            "recall against distance needs state/agent_pos and state/agent_dir (Memory Maze); "
            "these episodes have none"
        )
    results["videos"] += write_episode_videos(
        out, stem, episodes[: options.videos], kept, options.video_format
    )
    write_results(out / f"{stem}.json", results)
    return results


def print_tables(results: dict[str, Any]) -> None:
    for table in results["tables"]:
        print(text_table(table))
        print()
    for note in results.get("notes", []):
        print(f"note: {note}")


def run_recall_suite(
    checkpoints: list[str],
    episodes: list[EvalEpisode],
    spec: EpisodeSpec,
    out: str | Path,
    *,
    options: RecallOptions | None = None,
    tokenizer: str | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    denoising_steps: int | None = None,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate, score and write the recall comparison of ``checkpoints`` on ``episodes``."""
    from lsswm.eval.generation import evaluate_checkpoints

    options = options or RecallOptions()
    scorer = FrameScorer(options.lpips_weights, device, options.notes)
    fvd_detector = _fvd_detector(options, device)

    def score(loaded: Any, seen: list[EvalEpisode], generated: list[np.ndarray]) -> dict:
        scores = score_recall(seen, generated, scorer, options)
        if fvd_detector is not None:
            scores["overall"]["fvd"] = _fvd(seen, generated, fvd_detector, options.notes)
        return scores

    records, kept = evaluate_checkpoints(
        checkpoints,
        episodes,
        score,
        tokenizer=tokenizer,
        device=device,
        batch_size=batch_size,
        denoising_steps=denoising_steps,
        seed=seed,
        keep=options.videos,
        progress=progress,
    )
    return write_recall_outputs(
        Path(out), spec, episodes, records, kept, options, settings or {}, device
    )


def _fvd_detector(options: RecallOptions, device: str) -> Any:
    from lsswm.eval.perceptual import I3dFeatures

    try:
        return I3dFeatures(options.fvd_i3d, device)
    except MetricUnavailable as error:
        options.notes.append(str(error))
        return None


def _fvd(episodes: list[EvalEpisode], generated: list[np.ndarray], detector: Any, notes: list[str]):
    from lsswm.eval.perceptual import fvd

    try:
        return fvd([e.truth for e in episodes], generated, detector)
    except MetricUnavailable as error:
        notes.append(str(error))
        return None
