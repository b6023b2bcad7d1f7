"""`lsswm experiment memory`: does the block-wise SSM remember what a window forgets?

One command, resumable (re-run it to continue), sized for 2 CPU cores:

1. collect an explore-and-revisit Memory Maze 9x9 dataset (collect's `explore` policy with
   ``age_power=-2``: goals near recently visited cells, so the agent keeps coming back to
   places within tens of frames) for training, and a held-out one (other seeds, other mazes)
   for evaluation;
2. train a conv tokenizer on the training frames (32x32, area-downsampled -> 4x4x16 latents);
3. train `hybrid` and `causal-window` for the same steps on the same batches and noise, at
   equal parameter count (the window model's width and MLP ratio are fitted to the hybrid's
   count), on those latents with pose actions, side by side (one process and thread each);
4. on the held-out episodes, observe a context of real frames, imagine the rest with the real
   actions (stream API), and score PSNR/SSIM of the imagined frames by how long ago their
   place (agent cell + heading of 4) was last seen: more than `window_frames` frames ago
   (beyond any attention window: only memory can help), within the window, or never.
   A "copy last sighting" row scores the ground-truth frame of the place's last sighting
   against the truth: what perfect recall of the place would give at this place resolution.

Writes OUT/results.json and OUT/results.md (the table for docs/training.md).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsswm.eval.distance import UNSEEN, revisit_distances, split_by_window
from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.sizing import count_parameters, match_parameter_count
from lsswm.worldmodel.train.config import TrainConfig, apply_overrides, train_preset

ENV_ID = "lsswm/MemoryMaze-9x9-v0"
POLICY = "explore:age_power=-2"
EVAL_SEED_BASE = 100_000
VARIANTS = ("hybrid", "causal-window")
CATEGORIES = ("revisit_beyond_window", "seen_within_window", "never_seen", "all")


@dataclass(frozen=True)
class MemoryBudget:
    train_episodes: int
    eval_episodes: int
    episode_steps: int  # env steps per episode
    tokenizer_steps: int
    train_steps: int
    batch_size: int
    frames: int  # training window = evaluation sequence length
    context: int  # observed frames of an evaluation sequence; the rest is imagined
    denoising_steps: int


BUDGETS = {
    "full": MemoryBudget(24, 6, 200, 400, 1000, 8, 48, 24, 10),
    "smoke": MemoryBudget(2, 1, 80, 10, 6, 2, 24, 12, 4),
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
        f"curriculum={budget.frames}:{budget.train_steps}:{budget.batch_size}",
        f"model.variant={variant}",
        f"log.denoising_steps={budget.denoising_steps}",
        "system.threads=1",
    ]
    return apply_overrides(base, settings + overrides)


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


def train_experiment_tokenizer(out: Path, budget: MemoryBudget) -> Path:
    """Train (or resume) the experiment's conv tokenizer on the training episodes."""
    from lsswm.worldmodel.train.config import tokenizer_preset
    from lsswm.worldmodel.train.tokenizer import TOKENIZER_FILE, train_tokenizer

    config = apply_overrides(
        tokenizer_preset("tiny"),
        [
            f"data.path={out / 'data-train'}",
            f"run_dir={out / 'tokenizer'}",
            f"steps={budget.tokenizer_steps}",
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


def collect_datasets(out: Path, budget: MemoryBudget, workers: int) -> dict[str, float]:
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
            )
        )
        seconds[name] = time.perf_counter() - start
    return seconds


def place_distances(places: np.ndarray, context: int) -> np.ndarray:
    """(N, T, 3) places -> (N, T - context) revisit distances (eval.distance, counting every
    earlier frame, UNSEEN where the place was never seen before)."""
    out = []
    for row in places:
        _, ids = np.unique(row, axis=0, return_inverse=True)
        out.append(revisit_distances(ids.reshape(-1), context, reference="all"))
    return np.stack(out) if out else np.zeros((0, places.shape[1] - context), np.int64)


def place_categories(places: np.ndarray, context: int, window: int) -> np.ndarray:
    """(N, T, 3) places -> (N, T - context) category index into CATEGORIES[:3]."""
    distances = place_distances(places, context)
    return np.where(distances == UNSEEN, 2, np.where(distances > window, 0, 1))


def last_sighting_frames(frames: np.ndarray, places: np.ndarray, context: int) -> np.ndarray:
    """For each imagined position, the true frame of the place's last earlier sighting (the
    frame itself where there is none)."""
    distances = place_distances(places, context)
    out = frames[:, context:].copy()
    for i, j in zip(*np.nonzero(distances != UNSEEN), strict=True):
        out[i, j] = frames[i, context + j - distances[i, j]]
    return out


def evaluation_sequences(
    config: TrainConfig, data: Path, frames: int, every: int
) -> dict[str, torch.Tensor]:
    """The windows of `frames` frames starting every `every` frames of the eval episodes."""
    from lsswm.collect.windows import WindowDataset
    from lsswm.worldmodel.train.data import collate_windows, describe_data

    data_config = apply_overrides(config.data, [f"path={data}"])
    spec = describe_data(data_config)
    windows = WindowDataset(data, frames, state_keys=["agent_pos", "agent_dir"])
    items = []
    for slot, position in enumerate(windows.episode_positions):
        length = windows.manifest.records[int(position)].length + 1
        for start in range(0, length - frames + 1, every):
            items.append(windows.read(slot, start))
    return collate_windows(items, data_config, spec)


@torch.no_grad()
def evaluate_model(
    model_path: Path,
    sequences: dict[str, torch.Tensor],
    context: int,
    window: int,
    denoising_steps: int,
    seed: int = 0,
    batch_size: int = 16,
    observed: int | None = None,
) -> dict[str, Any]:
    """Observe the context, imagine the rest, score by place category. `observed` keeps only
    the last `observed` context frames (an ablation: what the model makes of a short past)."""
    from lsswm.worldmodel.checkpoint import load_world_model
    from lsswm.worldmodel.train.metrics import psnr, ssim
    from lsswm.worldmodel.train.video import imagine_after_context

    model = load_world_model(model_path).eval()
    frames, actions = sequences["frames"], sequences["actions"]
    first = 0 if observed is None else context - observed
    generated = []
    for start in range(0, frames.size(0), batch_size):
        part = slice(start, start + batch_size)
        generated.append(
            imagine_after_context(
                model,
                frames[part, first:],
                actions[part, first:],
                context - first,
                denoising_steps,
                seed + start,
            )
        )
    imagined = torch.cat(generated)
    truth = frames[:, context:]
    return score(imagined, truth, sequences["place"].numpy(), context, window, psnr, ssim)


def score(
    imagined: torch.Tensor,
    truth: torch.Tensor,
    places: np.ndarray,
    context: int,
    window: int,
    psnr_fn: Any,
    ssim_fn: Any,
) -> dict[str, Any]:
    distances = place_distances(places, context).reshape(-1)
    values = {
        "psnr": psnr_fn(imagined, truth).numpy().reshape(-1),
        "ssim": ssim_fn(imagined, truth).numpy().reshape(-1),
    }
    groups = split_by_window(distances, values, window)
    groups["all"] = {"count": len(distances)}
    groups["all"].update({k: float(v.mean()) if len(v) else None for k, v in values.items()})
    result = {}
    for name, group in zip(
        CATEGORIES, ("beyond_window", "within_window", "unseen", "all"), strict=True
    ):
        entry = groups[group]
        result[name] = {"frames": entry["count"], "psnr": entry["psnr"], "ssim": entry["ssim"]}
    return result


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
def validation_loss(
    model_path: Path, sequences: dict[str, torch.Tensor], seed: int = 0, batch_size: int = 16
) -> float:
    """The training loss (diffusion forcing + clean prefix, reward, termination) on the
    evaluation sequences, with the same noise for every model: a lower-is-better fit."""
    from lsswm.worldmodel.checkpoint import load_world_model

    model = load_world_model(model_path).eval()
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, sequences["frames"].size(0), batch_size):
        part = slice(start, start + batch_size)
        latents = model.tokenizer.encode(sequences["frames"][part])
        out = model.world_model.training_loss(
            latents,
            sequences["actions"][part],
            sequences["rewards"][part],
            sequences["terminated"][part],
            generator=generator,
        )
        size = latents.size(0)
        total += float(out.total) * size
        count += size
    return total / max(count, 1)


def run_memory_experiment(
    out: str | Path, budget_name: str = "full", workers: int = 2, overrides: list[str] = ()
) -> dict[str, Any] | None:
    """Run (or resume) the experiment; None when a training run was interrupted."""
    from lsswm.worldmodel.train.metrics import psnr, ssim

    out = Path(out)
    budget = BUDGETS[budget_name]
    overrides = list(overrides)
    out.mkdir(parents=True, exist_ok=True)
    log = _logger(out)
    started = time.perf_counter()
    log(f"memory experiment ({budget_name}): {asdict(budget)} -> {out}")
    collect_seconds = collect_datasets(out, budget, workers)
    log(f"datasets ready: {json.dumps({k: round(v, 1) for k, v in collect_seconds.items()})} s")

    start = time.perf_counter()
    tokenizer_path = train_experiment_tokenizer(out, budget)
    if tokenizer_path is None:
        log("tokenizer training interrupted; re-run the same command to resume")
        return None
    from lsswm.worldmodel.checkpoint import load_tokenizer

    latent_shape = load_tokenizer(tokenizer_path).config.latent_shape
    log(f"tokenizer ready ({latent_shape} latents, {time.perf_counter() - start:.0f} s)")
    configs = {v: experiment_config(out, budget, v, overrides) for v in VARIANTS}
    hybrid_model = resolved_model(configs["hybrid"], latent_shape)
    for variant in VARIANTS[1:]:
        fit = size_matching_overrides(hybrid_model, resolved_model(configs[variant], latent_shape))
        configs[variant] = apply_overrides(configs[variant], fit)
    window = configs["causal-window"].model.window_frames
    sequences = evaluation_sequences(
        configs["hybrid"], out / "data-eval", budget.frames, budget.frames - budget.context
    )
    truth = sequences["frames"][:, budget.context :]
    places = sequences["place"].numpy()
    copy = torch.from_numpy(
        last_sighting_frames(sequences["frames"].numpy(), places, budget.context)
    )
    copy_row = score(copy, truth, places, budget.context, window, psnr, ssim)
    for name in ("never_seen", "all"):  # no earlier sighting to copy
        copy_row[name] = {"frames": copy_row[name]["frames"], "psnr": None, "ssim": None}
    rows: dict[str, Any] = {"copy last sighting": copy_row}
    trained = train_in_parallel(configs)
    if trained is None or any(entry["interrupted"] for entry in trained.values()):
        log("training interrupted (checkpoints saved); re-run the same command to resume")
        return None
    runs = {}
    for variant, config in configs.items():
        entry = trained[variant]
        log(
            f"{variant}: trained {entry['step']} steps in {entry['seconds']:.0f} s "
            f"(last batch loss {entry['last_loss']})"
        )
        start = time.perf_counter()
        model_path = Path(config.run_dir) / "world_model.safetensors"
        metrics = evaluate_model(
            model_path, sequences, budget.context, window, budget.denoising_steps
        )
        rows[variant] = metrics
        runs[variant] = {
            "parameters": count_parameters(resolved_model(config, latent_shape)),
            "d_model": config.model.d_model,
            "mlp_ratio": config.model.mlp_ratio,
            "steps": entry["step"],
            "last_loss": entry["last_loss"],
            "eval_loss": validation_loss(model_path, sequences),
            "train_seconds_this_invocation": round(entry["seconds"], 1),
            "eval_seconds": round(time.perf_counter() - start, 1),
        }
        log(f"{variant}: eval loss {runs[variant]['eval_loss']:.4f}; {json.dumps(metrics)}")
        if variant == "hybrid":
            # Ablation: the same model given only the last `window` context frames. If its
            # scores on far revisits drop, the scan state carried the far past.
            cut = evaluate_model(
                model_path,
                sequences,
                budget.context,
                window,
                budget.denoising_steps,
                observed=window,
            )
            rows[f"hybrid, last {window} context frames only"] = cut
            log(f"hybrid with {window} context frames: {json.dumps(cut)}")
    summary = {
        "budget": budget_name,
        "settings": asdict(budget),
        "env_id": ENV_ID,
        "policy": POLICY,
        "window_frames": window,
        "sequences": int(sequences["frames"].size(0)),
        "image_size": configs["hybrid"].data.image_size,
        "overrides": overrides,
        "collect_seconds": collect_seconds,
        "runs": runs,
        "results": rows,
        "total_seconds_this_invocation": round(time.perf_counter() - started, 1),
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = results_table(summary)
    (out / "results.md").write_text(table + "\n")
    log("\n" + table)
    return summary


def results_table(summary: dict[str, Any]) -> str:
    def cell(entry: dict[str, Any]) -> str:
        if entry["psnr"] is None:
            return "-"
        return f"{entry['psnr']:.2f} / {entry['ssim']:.3f} ({entry['frames']})"

    window = summary["window_frames"]
    lines = [
        f"| model | params | steps | eval loss | PSNR / SSIM (frames): place last seen "
        f"> {window} frames ago | seen within {window} | never seen | all imagined |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in summary["results"].items():
        run = summary["runs"].get(name)
        described = ("-", "-", "-")
        if run:
            loss = "-" if run.get("eval_loss") is None else f"{run['eval_loss']:.4f}"
            described = (f"{run['parameters']:,}", str(run["steps"]), loss)
        cells = " | ".join(cell(result[c]) for c in CATEGORIES)
        lines.append(f"| {name} | {' | '.join(described)} | {cells} |")
    return "\n".join(lines)


def _logger(out: Path):
    path = out / "experiment.log"

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(message + "\n")

    return log
