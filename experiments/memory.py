"""`lsswm experiment memory`: does the block-wise SSM remember what a window forgets?

One command, resumable (re-run it to continue), sized for 2 CPU cores:

1. collect a Memory Maze 9x9 dataset with collect's ``lookaround`` policy (explore, plus two
   full turns in place at every goal: during the second turn each view repeats one seen
   about 20 frames earlier, beyond the 10-frame attention window) for training, and a
   held-out one (other seeds, so other mazes) for evaluation;
2. train a conv tokenizer on the training frames (32x32, area-downsampled -> 4x4x16 latents);
3. train ``hybrid``, ``causal-window`` and ``causal`` (the upper reference: attention over
   the whole context) for the same steps on the same batches and noise, at equal parameter
   count (the attention-only models' width and MLP ratio are fitted to the hybrid's), with
   pose actions and the recall recipe of the ``memory`` preset, one process and thread each;
4. score imagined frames of the held-out episodes by how long ago the same view was last
   seen, with intervals over episodes, two far-past ablations of the hybrid, a copy-the-
   last-sighting reference and a teacher-forced probe (experiments.maze_recall); write a
   plot and a side-by-side video at a revisit.

Writes OUT/results.json, OUT/results.md, OUT/psnr_by_distance.png and OUT/revisit.mp4 (or .gif).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.sizing import count_parameters, match_parameter_count
from lsswm.worldmodel.train.config import TrainConfig, apply_overrides, train_preset

ENV_ID = "lsswm/MemoryMaze-9x9-v0"
POLICY = "lookaround"
EVAL_SEED_BASE = 100_000
VARIANTS = ("hybrid", "causal-window", "causal")
# (row name, model, past ablation of maze_recall.with_past): what is imagined and probed.
SCORED_RUNS = (
    *((v, v, "full") for v in VARIANTS),
    ("hybrid, context cut to window", "hybrid", "window"),
    ("hybrid, far past shuffled", "hybrid", "shuffled"),
)


@dataclass(frozen=True)
class MemoryBudget:
    train_episodes: int
    eval_episodes: int
    episode_steps: int  # env steps per episode
    tokenizer_steps: int
    curriculum: str  # FRAMES:STEPS:BATCH,... (the last stage's frames = evaluation length)
    frames: int  # evaluation sequence length
    context: int  # observed frames of an evaluation sequence; the rest is imagined
    denoising_steps: int


BUDGETS = {
    "full": MemoryBudget(64, 16, 400, 800, "32:800:16,64:1600:8", 64, 44, 10),
    "smoke": MemoryBudget(2, 2, 80, 10, "16:4:2,24:2:2", 24, 12, 4),
}
# The learned tokenizer: 32x32 frames -> a 4x4 grid of 16 channels (16 tokens per frame).
# A latent cell must be small against the model width: patchify (8x8x3 = 192 values per token
# for a 64-wide model) left the sampler unable to remove noise in the directions the model
# cannot represent, and every imagined frame was noise (docs/training.md).
TOKENIZER_OVERRIDES = ("tokenizer.downsample=8", "tokenizer.latent_channels=16", "batch_size=32")


def experiment_config(
    out: Path, budget: MemoryBudget, variant: str, overrides: list[str]
) -> TrainConfig:
    """The training config of one model of the experiment (before size matching)."""
    base = train_preset("memory")
    settings = [
        f"data.path={out / 'data-train'}",
        f"tokenizer.path={out / 'tokenizer' / 'tokenizer.safetensors'}",
        f"run_dir={out / variant}",
        f"curriculum={budget.curriculum}",
        "model.ssm_state_size=64",
        f"log.denoising_steps={budget.denoising_steps}",
        "system.threads=1",
    ]
    # The variant last: overrides of the hybrid's scan (model.scan_blocks=...) are then
    # dropped, with a note, for the attention-only models instead of refused.
    return apply_overrides(base, [*settings, *overrides, f"model.variant={variant}"])


def resolved_model(config: TrainConfig, latent_shape: tuple[int, int, int]) -> WorldModelConfig:
    """The model config the trainer will build (the tokenizer's latents, pose actions)."""
    height, width, channels = latent_shape
    return config.model.replace(
        latent_height=height,
        latent_width=width,
        latent_channels=channels,
        action_kind="continuous",
        action_size=4,
    )


def train_experiment_tokenizer(out: Path, budget: MemoryBudget, progress: bool = True) -> Path:
    """Train (or resume) the experiment's conv tokenizer on the training episodes."""
    from lsswm.worldmodel.train.config import tokenizer_preset
    from lsswm.worldmodel.train.tokenizer import TOKENIZER_FILE, train_tokenizer

    config = apply_overrides(
        tokenizer_preset("tiny"),
        [
            f"data.path={out / 'data-train'}",
            f"run_dir={out / 'tokenizer'}",
            f"steps={budget.tokenizer_steps}",
            f"log.progress={str(progress).lower()}",
            *TOKENIZER_OVERRIDES,
        ],
    )
    result = train_tokenizer(config)
    if result.interrupted:
        return None
    return Path(config.run_dir) / TOKENIZER_FILE


def size_matching_overrides(hybrid: WorldModelConfig, other: WorldModelConfig) -> list[str]:
    """d_model, then the MLP ratio, fitted so `other` has the hybrid's parameter count."""
    target = count_parameters(hybrid)
    fitted = match_parameter_count(other, target)
    base = count_parameters(fitted)
    per_unit = count_parameters(fitted.replace(mlp_ratio=fitted.mlp_ratio + 1.0)) - base
    ratio = round(max(0.5, fitted.mlp_ratio + (target - base) / per_unit), 3)
    return [f"model.d_model={fitted.d_model}", f"model.mlp_ratio={ratio}"]


def collect_datasets(
    out: Path, budget: MemoryBudget, workers: int, progress: bool = True
) -> dict[str, float]:
    from lsswm.collect.collector import CollectConfig, collect

    seconds = {}
    for name, episodes, seed_base in (
        ("data-train", budget.train_episodes, 0),
        ("data-eval", budget.eval_episodes, EVAL_SEED_BASE),
    ):
        start = time.perf_counter()
        collect(
            CollectConfig(
                env_id=ENV_ID,
                episodes=episodes,
                steps=budget.episode_steps,
                policy=POLICY,
                out=str(out / name),
                workers=workers,
                seed_base=seed_base,
                progress=progress,
            )
        )
        seconds[name] = time.perf_counter() - start
    return seconds


def _train_worker(config: TrainConfig, results: Any) -> None:
    from lsswm.worldmodel.train.loop import train

    start = time.perf_counter()
    result = train(config)
    results.put(
        (
            config.model.variant,
            {
                "step": result.step,
                "last_loss": result.last_loss,
                "interrupted": result.interrupted,
                "seconds": time.perf_counter() - start,
            },
        )
    )


def train_in_parallel(configs: dict[str, TrainConfig]) -> dict[str, dict[str, Any]] | None:
    """Train every config in its own process (one thread each, set by the experiment's
    system.threads=1): on two cores two small models train side by side at full speed, where
    one process with two threads gains little on such small matrices. Ctrl-C/SIGTERM reach
    the trainers, which save a checkpoint and stop. None if a trainer process failed."""
    import multiprocessing
    import os
    import queue
    import signal

    from lsswm.worldmodel.train.runtime import stop_requests

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=_train_worker, args=(config, results), name=variant)
        for variant, config in configs.items()
    ]
    finished: dict[str, dict[str, Any]] = {}
    with stop_requests() as stop:
        for process in processes:
            process.start()
        forwarded = False
        while len(finished) < len(processes):
            if stop[0] and not forwarded:
                for process in processes:
                    if process.is_alive():
                        os.kill(process.pid, signal.SIGTERM)
                forwarded = True
            try:
                variant, entry = results.get(timeout=1.0)
                finished[variant] = entry
            except queue.Empty:
                if all(not p.is_alive() for p in processes) and results.empty():
                    break
        for process in processes:
            process.join()
    if len(finished) < len(processes):
        failed = [p.name for p in processes if p.name not in finished]
        raise RuntimeError(f"training process(es) {failed} failed; see the messages above")
    return finished


@torch.no_grad()
def validation_loss(model: Any, sequences: Any, seed: int = 0, batch_size: int = 32) -> float:
    """The training loss (diffusion forcing + clean prefix, reward, termination) on the
    evaluation sequences, with the same noise for every model: a lower-is-better fit."""
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(sequences), batch_size):
        part = slice(start, start + batch_size)
        latents = model.tokenizer.encode(sequences.frames[part])
        shape = latents.shape[:2]
        out = model.world_model.training_loss(
            latents,
            sequences.actions[part],
            torch.zeros(shape),
            torch.zeros(shape, dtype=torch.bool),
            generator=generator,
        )
        total += float(out.total) * shape[0]
        count += shape[0]
    return total / max(count, 1)


def record_training(out: Path, trained: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Add this invocation's training seconds to OUT/training.json (resumed runs add up)."""
    path = out / "training.json"
    totals = json.loads(path.read_text()) if path.exists() else {}
    for variant, entry in trained.items():
        previous = totals.get(variant, {"seconds": 0.0})
        totals[variant] = {
            "step": entry["step"],
            "last_loss": entry["last_loss"],
            "seconds": round(previous["seconds"] + entry["seconds"], 1),
        }
    path.write_text(json.dumps(totals, indent=2) + "\n")
    return totals


def run_memory_experiment(
    out: str | Path,
    budget_name: str = "full",
    workers: int = 2,
    overrides: list[str] = (),
    progress: bool = True,
) -> dict[str, Any] | None:
    """Run (or resume) the experiment; None when a training run was interrupted."""
    out = Path(out)
    budget = BUDGETS[budget_name]
    overrides = list(overrides)
    out.mkdir(parents=True, exist_ok=True)
    log = _logger(out)
    started = time.perf_counter()
    log(f"memory experiment ({budget_name}): {asdict(budget)} -> {out}")
    collect_seconds = collect_datasets(out, budget, workers, progress)
    log(f"datasets ready: {json.dumps({k: round(v, 1) for k, v in collect_seconds.items()})} s")

    start = time.perf_counter()
    tokenizer_path = train_experiment_tokenizer(out, budget, progress)
    if tokenizer_path is None:
        log("tokenizer training interrupted; re-run the same command to resume")
        return None
    from lsswm.worldmodel.checkpoint import load_tokenizer

    latent_shape = load_tokenizer(tokenizer_path).config.latent_shape
    log(f"tokenizer ready ({latent_shape} latents, {time.perf_counter() - start:.0f} s)")
    configs = experiment_configs(out, budget, latent_shape, overrides)
    trained = train_in_parallel(configs)
    if trained is None or any(entry["interrupted"] for entry in trained.values()):
        log("training interrupted (checkpoints saved); re-run the same command to resume")
        return None
    totals = record_training(out, trained)
    for variant, entry in totals.items():
        log(f"{variant}: {entry['step']} steps, {entry['seconds']:.0f} s of training in all")
    summary = evaluate_experiment(out, budget, configs, latent_shape, totals, log, progress)
    summary.update(
        budget=budget_name,
        settings=asdict(budget),
        overrides=overrides,
        collect_seconds=collect_seconds,
        total_seconds_this_invocation=round(time.perf_counter() - started, 1),
    )
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = results_table(summary)
    (out / "results.md").write_text(table + "\n")
    log("\n" + table)
    return summary


def experiment_configs(
    out: Path, budget: MemoryBudget, latent_shape: tuple[int, int, int], overrides: list[str]
) -> dict[str, TrainConfig]:
    """Every model's training config, the attention-only ones fitted to the hybrid's size."""
    configs = {v: experiment_config(out, budget, v, overrides) for v in VARIANTS}
    hybrid_model = resolved_model(configs["hybrid"], latent_shape)
    for variant in VARIANTS[1:]:
        fit = size_matching_overrides(hybrid_model, resolved_model(configs[variant], latent_shape))
        configs[variant] = apply_overrides(configs[variant], fit)
    return configs


def evaluate_experiment(
    out: Path,
    budget: MemoryBudget,
    configs: dict[str, TrainConfig],
    latent_shape: tuple[int, int, int],
    totals: dict[str, dict[str, Any]],
    log: Any,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every model, the references and the ablations on the held-out episodes."""
    from tqdm import tqdm

    from lsswm.eval.plots import plot_metric_vs_distance
    from lsswm.eval.recall import FrameScorer
    from lsswm.experiments import maze_recall as recall
    from lsswm.worldmodel.checkpoint import load_world_model

    window = configs["causal-window"].model.window_frames
    context = budget.context
    data_config = apply_overrides(configs["hybrid"].data, [f"path={out / 'data-eval'}"])
    sequences = recall.evaluation_sequences(data_config, budget.frames, budget.frames - context)
    notes: list[str] = []
    scorer = FrameScorer(None, "cpu", notes)
    model_paths = {v: Path(c.run_dir) / "world_model.safetensors" for v, c in configs.items()}
    models = {v: load_world_model(path).eval() for v, path in model_paths.items()}
    truth = sequences.frames[:, context:]

    def scored(frames: torch.Tensor, blank_unseen: bool = False) -> dict[str, Any]:
        return recall.score(frames, sequences, context, window, scorer, blank_unseen)

    bar = tqdm(
        total=len(sequences) * len(SCORED_RUNS),
        desc="imagine held-out sequences",
        unit="seq",
        disable=not progress,
    )
    imagined_frames: dict[str, torch.Tensor] = {}
    imagined: dict[str, Any] = {
        "copy last sighting": scored(recall.last_sighting_frames(sequences, context), True),
        "tokenizer round trip": scored(
            models["hybrid"].tokenizer.decode_uint8(models["hybrid"].tokenizer.encode(truth))
        ),
    }
    for name, variant, past in SCORED_RUNS:
        start = time.perf_counter()
        frames = cached_imagination(
            out / "imagined",
            model_paths[variant],
            past,
            f"{budget.frames}f{context}c{budget.denoising_steps}d",
            lambda variant=variant, past=past: recall.imagine(
                models[variant],
                sequences,
                context,
                window,
                budget.denoising_steps,
                past,
                progress=bar,
            ),
        )
        imagined_frames[name] = frames
        imagined[name] = scored(frames)
        row = recall.window_rows(imagined[name], window)
        log(
            f"imagined, {name}: within {row['within']['psnr']:.2f} dB, beyond "
            f"{row['beyond']['psnr']:.2f} dB ({time.perf_counter() - start:.0f} s)"
        )
    bar.close()
    probes = {}
    for name, variant, past in SCORED_RUNS:
        probes[name] = scored(recall.probe(models[variant], sequences, context, window, past))
    runs = {}
    for variant, config in configs.items():
        runs[variant] = {
            "parameters": count_parameters(resolved_model(config, latent_shape)),
            "d_model": config.model.d_model,
            "mlp_ratio": config.model.mlp_ratio,
            "steps": totals[variant]["step"],
            "train_seconds": totals[variant]["seconds"],
            "eval_loss": validation_loss(models[variant], sequences),
        }
    plot = plot_metric_vs_distance(
        {name: imagined[name]["by_distance"] for name in [*VARIANTS, "copy last sighting"]},
        "psnr",
        out / "psnr_by_distance.png",
        "Memory Maze 9x9 (held out): imagined frames by frames since the view was last seen",
        window=window,
    )
    row = recall.best_revisit_sequence(sequences, context, window)
    video = recall.write_revisit_video(
        out / "revisit.mp4",
        sequences,
        context,
        {v: imagined_frames[v] for v in VARIANTS},
        row,
    )
    return {
        "env_id": ENV_ID,
        "policy": POLICY,
        "window_frames": window,
        "context": context,
        "sequences": len(sequences),
        "episodes": len(set(sequences.episodes.tolist())),
        "image_size": configs["hybrid"].data.image_size,
        "runs": runs,
        "imagined": imagined,
        "probe": probes,
        "bars": memory_bars(imagined, probes, window),
        "plot": plot.name,
        "video": video.name,
        "video_sequence": row,
        "notes": notes,
    }


def cached_imagination(
    folder: Path, model_path: Path, past: str, settings: str, compute: Any
) -> torch.Tensor:
    """Imagined frames of one model and ablation, kept in `folder` under the model's weights
    hash and the evaluation settings, so a re-run (or scoring a model while the others still
    train) imagines each once."""
    from lsswm.worldmodel.checkpoint import read_metadata

    digest = read_metadata(model_path)["weights_sha256"][:16]
    path = folder / f"{model_path.parent.name}-{past}-{settings}-{digest}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    frames = compute()
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(frames, partial)
    partial.replace(path)
    return frames


def memory_bars(imagined: dict[str, Any], probes: dict[str, Any], window: int) -> dict[str, Any]:
    """The issue's bars on views last seen beyond the window, each with its numbers."""
    from lsswm.experiments.maze_recall import gain, window_rows

    over_window = gain(imagined["hybrid"], imagined["causal-window"], window)
    cut = gain(imagined["hybrid"], imagined["hybrid, context cut to window"], window)
    shuffled = gain(imagined["hybrid"], imagined["hybrid, far past shuffled"], window)
    within = window_rows(imagined["hybrid"], window)["within"]
    needed = None if over_window is None else 2 / 3 * over_window["mean"]
    return {
        "hybrid_minus_causal_window": over_window,
        "hybrid_minus_cut_to_window": cut,
        "hybrid_minus_shuffled_past": shuffled,
        "hybrid_within_window_psnr": within["psnr"],
        "probe_full_minus_cut_to_window": gain(
            probes["hybrid"], probes["hybrid, context cut to window"], window
        ),
        "met": {
            "gain_at_least_2db_ci_excludes_0": bool(
                over_window and over_window["mean"] >= 2 and over_window["ci95"][0] > 0
            ),
            "cut_loses_two_thirds": bool(cut and needed and needed > 0 and cut["mean"] >= needed),
            "shuffled_loses_two_thirds": bool(
                shuffled and needed and needed > 0 and shuffled["mean"] >= needed
            ),
            "within_window_at_least_20db": bool(within["psnr"] and within["psnr"] >= 20),
        },
    }


def results_table(summary: dict[str, Any]) -> str:
    """Markdown: imagined PSNR per distance bin (mean [95% CI] over episodes), then the
    probe's within/beyond rows and the bars."""
    from lsswm.experiments.maze_recall import window_rows

    window = summary["window_frames"]

    def cell(row: dict[str, Any], metric: str = "psnr") -> str:
        if not row.get("count") or row.get(metric) is None:
            return "-"
        low, high = row[f"{metric}_ci95"]
        return f"{row[metric]:.1f} [{low:.1f}, {high:.1f}]"

    first = next(iter(summary["imagined"].values()))["by_distance"]
    labels = [row["label"] for row in first]
    counts = [str(row["count"]) for row in first]
    lines = [
        "Imagined frames, PSNR dB by frames since the same view was last seen in the context "
        "(mean over episodes [95% bootstrap CI]):",
        "",
        "| model | params | steps | train s | eval loss | " + " | ".join(labels) + " |",
        "|---|---|---|---|---|" + "---|" * len(labels),
        "| (frames) | | | | | " + " | ".join(counts) + " |",
    ]
    for name, result in summary["imagined"].items():
        run = summary["runs"].get(name)
        described = ("", "", "", "")
        if run:
            described = (
                f"{run['parameters']:,}",
                str(run["steps"]),
                f"{run['train_seconds']:.0f}",
                f"{run['eval_loss']:.4f}",
            )
        cells = [cell(row) for row in result["by_distance"]]
        lines.append(f"| {name} | {' | '.join(described)} | {' | '.join(cells)} |")
    lines += [
        "",
        f"Teacher-forced probe (context clean, targets at full noise, one pass), PSNR dB "
        f"within the {window}-frame window and beyond it:",
        "",
        "| model | within | beyond | never seen |",
        "|---|---|---|---|",
    ]
    for name, result in summary["probe"].items():
        rows = window_rows(result, window)
        lines.append(
            f"| {name} | {cell(rows['within'])} | {cell(rows['beyond'])} | {cell(rows['unseen'])} |"
        )
    bars = summary["bars"]

    def diff(entry: dict[str, Any] | None) -> str:
        if entry is None:
            return "-"
        return f"{entry['mean']:+.2f} dB [{entry['ci95'][0]:+.2f}, {entry['ci95'][1]:+.2f}]"

    lines += [
        "",
        f"Beyond the window (paired over episodes): hybrid - causal-window "
        f"{diff(bars['hybrid_minus_causal_window'])}; hybrid - context cut to window "
        f"{diff(bars['hybrid_minus_cut_to_window'])}; hybrid - far past shuffled "
        f"{diff(bars['hybrid_minus_shuffled_past'])}; probe full - cut "
        f"{diff(bars['probe_full_minus_cut_to_window'])}.",
        "",
        "Bars: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in bars["met"].items()),
    ]
    return "\n".join(lines)


def _logger(out: Path):
    path = out / "experiment.log"

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(message + "\n")

    return log
