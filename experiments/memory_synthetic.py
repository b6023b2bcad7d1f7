"""`lsswm experiment memory-synthetic`: can each variant recall views beyond its window?

Trains hybrid, causal-window and causal at equal parameter counts on the synthetic turning
camera (lsswm.worldmodel.synthetic_memory) through the real WorldModel and diffusion-forcing
loss, on the same batches and noise, then scores recall on held-out episodes two ways:

- probe: one pass with the context clean and every later frame at full noise; the model's
  clean prediction is its posterior mean, binned by frames since the view was last seen in
  the clean context (deterministic, cheap);
- imagine: the streaming API observes the context and generates the rest with DDIM, frame
  chunk by chunk, as at inference; binned by frames since the view was last shown.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from lsswm.eval.confidence import episode_mean_interval
from lsswm.worldmodel import diffusion
from lsswm.worldmodel.config import DELTA_WRITES, VARIANTS, WorldModelConfig, recall_recipe
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.sizing import count_parameters, equal_size_configs, match_parameter_count
from lsswm.worldmodel.synthetic_memory import (
    CHANCE_PSNR,
    NEVER_SEEN,
    TurnTask,
    frames_since_last_seen,
    latent_psnr,
    make_batch,
)

DISTANCE_BINS = ((1, 10), (11, 20), (21, 50), (51, 100), (101, 10**9))


@dataclass
class SyntheticMemoryConfig:
    task: TurnTask = field(default_factory=TurnTask)
    variants: tuple[str, ...] = ("hybrid", "causal-window", "causal")
    d_model: int = 64
    n_layers: int = 4
    # The scan's state per head is head_dim x state_size: 64 lets 12 poses (48 pose-and-
    # position pairs in whole-frame blocks) get nearly orthogonal keys; 16 was crosstalk-
    # limited (docs/experiments.md, section 6).
    state_size: int = 64
    steps: int = 3000
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 100
    seed: int = 0
    context: int = 16  # clean frames before the scored ones (more than one turn)
    eval_episodes: int = 64
    denoising_steps: int = 10
    threads: int = 2
    progress: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)
    # The hybrid's scan blocks, cycled over its layers; empty: 1x1 and whole-frame blocks in
    # turn. ((2, 2), (4, 4)) on 4x4 latents is the Memory Maze hybrid's layout.
    scan_blocks: tuple[tuple[int, int], ...] = ()

    def base_model(self) -> WorldModelConfig:
        task = self.task
        action_kind = "discrete" if task.action_kind == "discrete" else "continuous"
        small, whole = (1, 1), (task.height, task.width)
        cycle = self.scan_blocks or (small, whole)
        return WorldModelConfig(
            variant="hybrid",
            latent_height=task.height,
            latent_width=task.width,
            latent_channels=task.channels,
            action_kind=action_kind,
            action_size=task.action_size,
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=4,
            scan_blocks=tuple(cycle[i % len(cycle)] for i in range(self.n_layers)),
            ssm_state_size=self.state_size,
            **(recall_recipe(action_kind) | self.model_overrides),
        )

    def model_configs(self) -> dict[str, WorldModelConfig]:
        """One config per row name, all at the hybrid's parameter count. Rows named
        ``hybrid-*`` are the hybrid with one part of the scan recipe taken back (ABLATIONS),
        with something added (ADDITIONS), or with view-direction keys (``hybrid-view-keys``)."""
        base = self.base_model()
        plain = tuple(dict.fromkeys(name.split("+")[0] for name in self.variants))
        architectures = tuple(v for v in plain if v in VARIANTS)
        sized = equal_size_configs(base, architectures) if architectures else {}
        target = count_parameters(base)
        configs = {}
        for name in self.variants:
            if name in sized:
                configs[name] = sized[name]
            elif name in HYBRID_CHANGES or name == VIEW_KEYS:
                changes = HYBRID_CHANGES.get(name) or view_key_changes(self.task)
                configs[name] = match_parameter_count(base.replace(**changes), target)
            else:
                known = [*HYBRID_CHANGES, VIEW_KEYS]
                raise ValueError(f"unknown model {name!r}: a variant or one of {known}")
        return configs


# The recall recipe with its parts taken back: one at a time, and all at once (Mamba2's own
# recipe).
ABLATIONS = {
    "hybrid-mamba2-scan": {
        "ssm_input_gain": "dt",
        "ssm_halflife_frames": (),
        "action_keys": False,
        "action_key_fourier": 0,
    },
    # Without the short conv before the scan (docs/experiments.md, 29).
    "hybrid-no-conv": {"ssm_conv_width": 1},
    "hybrid-dt-gain": {"ssm_input_gain": "dt"},
    "hybrid-mamba2-decay": {"ssm_halflife_frames": ()},
    "hybrid-content-keys": {"action_keys": False, "action_key_fourier": 0},
    "hybrid-embedding-keys": {"action_key_fourier": 0},
}


# The recall recipe with something added.
ADDITIONS = {
    # The gated delta rule with writes weighed by how clean their frame is
    # (docs/experiments.md, 32).
    "hybrid-delta": DELTA_WRITES,
}
# Every named hybrid row but the view keys (whose change depends on the task).
HYBRID_CHANGES = ABLATIONS | ADDITIONS

VIEW_KEYS = "hybrid-view-keys"


def view_key_changes(task: TurnTask) -> dict[str, Any]:
    """The hybrid with keys for the direction each token looks in (docs/experiments.md, 22):
    on the task's panorama a latent column spans 360 / (views x width) degrees."""
    return {"action_key_view_degrees": 360.0 / (task.n_views * task.width)}


def train_model(
    config: WorldModelConfig, run: SyntheticMemoryConfig, name: str = "", log_every: int = 50
) -> tuple[WorldModel, list[float]]:
    """Train one variant; every variant sees the same batches and noise (same seeds)."""
    torch.manual_seed(run.seed)
    model = WorldModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=run.lr, weight_decay=0.0)

    def lr_at(step: int) -> float:
        if step < run.warmup:
            return (step + 1) / run.warmup
        progress = (step - run.warmup) / max(1, run.steps - run.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    data = torch.Generator().manual_seed(run.seed)
    noise = torch.Generator().manual_seed(run.seed + 1)
    losses = []
    bar = tqdm(
        range(run.steps),
        desc=name or config.variant,
        unit="step",
        mininterval=2,
        disable=not run.progress,
    )
    for step in bar:
        batch = make_batch(run.task, run.batch_size, data)
        loss = model.training_loss(batch.latents, batch.actions, generator=noise).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if step % log_every == 0:
            bar.set_postfix(loss=f"{sum(losses[-log_every:]) / len(losses[-log_every:]):.4f}")
    return model, losses


def held_out_batch(run: SyntheticMemoryConfig):
    # Seeds far from the training seed: held-out views and starting headings.
    return make_batch(run.task, run.eval_episodes, torch.Generator().manual_seed(10**6 + run.seed))


PAST_ABLATIONS = ("full", "window", "shuffled")


def copy_last_sighting(run: SyntheticMemoryConfig, window: int) -> dict[str, Any]:
    """The copy reference, binned like the models: each frame after the context predicted
    by the true frame of its last sighting. Exact (the PSNR cap) when views recur exactly;
    with `view_drift` a recurring view is shifted, and copying is no longer enough."""
    batch = held_out_batch(run)
    distance = frames_since_last_seen(batch.headings)[:, run.context :]
    seen = distance != NEVER_SEEN
    position = torch.arange(run.context, run.task.frames)[None]
    source = torch.where(seen, position - distance, position)  # never seen: scored, dropped
    copied = batch.latents.gather(
        1, source[..., None, None, None].expand(-1, -1, *batch.latents.shape[2:])
    )
    scores = latent_psnr(copied, batch.latents[:, run.context :])
    result = binned(scores, distance, window=window)
    result.pop("never-seen", None)
    return result


@torch.no_grad()
def probe_psnr(
    model: WorldModel, run: SyntheticMemoryConfig, past: str = "full"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior-mean PSNR of every frame after the context, its distance to the last clean
    sighting, and whether that sighting lies before the window at the context's end:
    (episodes, T - context) each.

    past: "full" keeps the whole context; "window" cuts it to the last `window_frames`
    frames (what the attention window sees); "shuffled" replaces the frames before those
    with another episode's (frames and actions), so only a memory of the far past changes.
    """
    model.eval()
    batch = held_out_batch(run)
    latents, actions = batch.latents.clone(), batch.actions.clone()
    far = max(0, run.context - model.config.window_frames)  # frames before the window
    if past == "shuffled":
        latents[:, :far] = latents.roll(1, dims=0)[:, :far]
        actions[:, :far] = actions.roll(1, dims=0)[:, :far]
    elif past == "window":
        latents, actions = latents[:, far:], actions[:, far:]
    elif past != "full":
        raise ValueError(f"past must be one of {PAST_ABLATIONS} (got {past!r})")
    context = run.context - (far if past == "window" else 0)
    levels = torch.zeros(latents.shape[:2])
    levels[:, context:] = 1.0
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(7))
    noisy = diffusion.add_noise(latents, noise, levels)
    velocity = model(noisy, levels, actions).prediction
    clean = diffusion.clean_from_velocity(noisy, velocity, levels)
    scores = latent_psnr(clean[:, context:], batch.latents[:, run.context :])
    distance = frames_since_last_seen(batch.headings, seen_until=run.context)[:, run.context :]
    # Targets whose view was last seen only before the window at the end of the context: the
    # frames that the "window" and "shuffled" ablations take away.
    position = torch.arange(run.context, run.task.frames)[None]
    far_only = (distance != NEVER_SEEN) & (position - distance < far)
    return scores, distance, far_only


@torch.no_grad()
def imagine_psnr(
    model: WorldModel, run: SyntheticMemoryConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """DDIM imagination after observing the context; PSNR and frames since last shown."""
    model.eval()
    batch = held_out_batch(run)
    stream = model.start_stream(run.eval_episodes)
    stream.observe(batch.latents[:, : run.context], batch.actions[:, : run.context])
    out = stream.imagine(
        batch.actions[:, run.context :],
        run.denoising_steps,
        generator=torch.Generator().manual_seed(7),
    )
    scores = latent_psnr(out.latents, batch.latents[:, run.context :])
    return scores, frames_since_last_seen(batch.headings)[:, run.context :]


def binned(
    scores: torch.Tensor,
    distance: torch.Tensor,
    far_only: torch.Tensor | None = None,
    *,
    window: int,
) -> dict[str, Any]:
    """Mean PSNR and a 95% bootstrap interval over episodes, per distance bin, plus the
    headline bins: within the attention window, beyond it, and (given far_only) the frames
    whose view was last seen only in the far past of the context."""
    bins = {f"{lo}-{hi}" if hi < 10**9 else f">{lo - 1}": (lo, hi) for lo, hi in DISTANCE_BINS}
    bins["within-window"] = (1, window)
    bins["beyond-window"] = (window + 1, 10**9)
    bins["never-seen"] = (NEVER_SEEN, NEVER_SEEN)
    result = {}
    for name, (lo, hi) in bins.items():
        mask = (distance >= lo) & (distance <= hi)
        if not mask.any():
            continue
        result[name] = episode_mean_ci(scores, mask) | {"frames": int(mask.sum())}
    if far_only is not None and far_only.any():
        result["far-past-only"] = episode_mean_ci(scores, far_only) | {
            "frames": int(far_only.sum())
        }
    return result


def episode_mean_ci(scores: torch.Tensor, mask: torch.Tensor) -> dict:
    """Mean over episodes of each episode's mean over masked frames, with its bootstrap CI
    (eval.confidence)."""
    has = mask.any(dim=1)
    per_episode = (scores * mask).sum(1)[has] / mask.sum(1)[has]
    interval = episode_mean_interval(per_episode.double().numpy())
    return {"psnr": interval["mean"], "ci95": interval["ci95"], "episodes": interval["episodes"]}


def run_synthetic_memory(run: SyntheticMemoryConfig, out: Path) -> dict[str, Any]:
    """Train and score every model of `run`. Each trained model is saved under out/models/;
    re-running with the same settings scores saved models without training them again, and
    skips models already scored (summary.json), so an interrupted run resumes per model."""
    from lsswm.worldmodel.checkpoint import load_world_model, save_world_model

    torch.set_num_threads(run.threads)
    (out / "models").mkdir(parents=True, exist_ok=True)
    excluded = ("variants", "progress", "threads")
    settings = _jsonable({k: v for k, v in asdict(run).items() if k not in excluded})
    summary_path = out / "summary.json"
    summary: dict[str, Any] = {"settings": settings, "chance_psnr": CHANCE_PSNR, "models": {}}
    if summary_path.exists():
        previous = json.loads(summary_path.read_text())
        if previous.get("settings") == settings:
            summary = previous
    for name, config in run.model_configs().items():
        if name in summary["models"]:
            print(f"{name}: already scored in {summary_path}, skipped", flush=True)
            continue
        weights = out / "models" / f"{name}.safetensors"
        cost: dict[str, Any] = {}
        if weights.exists() and (out / "models" / f"{name}.json").exists():
            model = load_world_model(weights)
            cost = json.loads((out / "models" / f"{name}.json").read_text())
        else:
            started = time.perf_counter()
            model, losses = train_model(config, run, name)
            seconds = time.perf_counter() - started
            cost = {
                "train_seconds": seconds,
                "steps_per_second": run.steps / seconds,
                "final_loss": sum(losses[-50:]) / len(losses[-50:]),
            }
            save_world_model(weights, model)
            (out / "models" / f"{name}.json").write_text(json.dumps(cost, indent=2))
        summary["models"][name] = {
            "parameters": count_parameters(config),
            **cost,
            **score_model(model, run),
            "model_config": config.to_dict(),
        }
        summary_path.write_text(json.dumps(summary, indent=2))
        print(f"{name}: {_line(summary['models'][name])}", flush=True)
    summary["copy_last_sighting"] = copy_last_sighting(run, run.base_model().window_frames)
    summary_path.write_text(json.dumps(summary, indent=2))
    (out / "results.md").write_text(results_table(summary))
    plot_results(summary, out / "psnr_by_model.png")
    print(results_table(summary))
    return summary


def score_model(model: WorldModel, run: SyntheticMemoryConfig) -> dict[str, Any]:
    """The probe with its two far-past ablations, and DDIM imagination, binned."""
    window = model.config.window_frames
    return {
        "probe": binned(*probe_psnr(model, run), window=window),
        "probe_ablations": {
            past: binned(*probe_psnr(model, run, past), window=window)
            for past in PAST_ABLATIONS[1:]
        },
        "imagine": binned(*imagine_psnr(model, run), window=window),
    }


def results_table(summary: dict[str, Any]) -> str:
    """Markdown: beyond/within-window PSNR with 95% CIs, the two ablations, the cost."""

    def cell(entry: dict[str, Any] | None) -> str:
        if not entry:
            return "-"
        low, high = entry["ci95"]
        return f"{entry['psnr']:.1f} [{low:.1f}, {high:.1f}]"

    lines = [
        f"Latent PSNR in dB, mean over held-out episodes [95% bootstrap CI]; predicting the mean "
        f"view (no memory) scores {summary['chance_psnr']:.1f} dB.",
        "",
        "| model | params | imagined (DDIM), beyond window | probe, beyond window "
        "| probe, far past only | same, context cut to window | same, far past shuffled "
        "| final loss | train s (steps/s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in summary["models"].items():
        ablations = entry["probe_ablations"]
        lines.append(
            f"| {name} | {entry['parameters']:,} | {cell(entry['imagine'].get('beyond-window'))} "
            f"| {cell(entry['probe'].get('beyond-window'))} "
            f"| {cell(entry['probe'].get('far-past-only'))} "
            f"| {cell(ablations['window'].get('far-past-only'))} "
            f"| {cell(ablations['shuffled'].get('far-past-only'))} "
            f"| {entry['final_loss']:.3f} "
            f"| {entry['train_seconds']:.0f} ({entry['steps_per_second']:.1f}) |"
        )
    copied = summary.get("copy_last_sighting", {}).get("beyond-window")
    if copied:
        lines += ["", f"Copying the true frame of the view's last sighting: {cell(copied)} dB."]
    return "\n".join(lines) + "\n"


def plot_results(summary: dict[str, Any], path: Path) -> Path:
    """Bars per model: probe (full, cut, shuffled past) and imagined PSNR beyond the window,
    with 95% CIs, and the no-memory level as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = (
        ("imagined (DDIM), beyond window", lambda e: e["imagine"].get("beyond-window")),
        ("probe, far past only", lambda e: e["probe"].get("far-past-only")),
        (
            "same, context cut to window",
            lambda e: e["probe_ablations"]["window"].get("far-past-only"),
        ),
        (
            "same, far past shuffled",
            lambda e: e["probe_ablations"]["shuffled"].get("far-past-only"),
        ),
    )
    names = list(summary["models"])
    figure, axis = plt.subplots(figsize=(max(6.0, 1.6 * len(names) + 2), 4.2), dpi=120)
    width = 0.8 / len(kinds)
    for k, (label, pick) in enumerate(kinds):
        for i, name in enumerate(names):
            entry = pick(summary["models"][name])
            if not entry:
                continue
            low, high = entry["ci95"]
            x = i + (k - (len(kinds) - 1) / 2) * width
            axis.bar(x, entry["psnr"], width, color=f"C{k}", label=label if i == 0 else None)
            axis.errorbar(
                x,
                entry["psnr"],
                [[entry["psnr"] - low], [high - entry["psnr"]]],
                color="black",
                capsize=2,
                linewidth=1,
            )
    axis.axhline(
        summary["chance_psnr"],
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label="no memory (mean view)",
    )
    axis.set_xticks(range(len(names)), names, rotation=15)
    axis.set_ylabel("latent PSNR (dB)")
    axis.set_title("Synthetic recall: a turning camera, views recur one turn later", fontsize=10)
    axis.legend(fontsize=7)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def budget_config(budget: str, **changes: Any) -> SyntheticMemoryConfig:
    """The documented configurations: "full" (the committed results) and "smoke" (a
    one-minute check of the wiring, no claim about recall)."""
    if budget == "full":
        base = {"steps": 3000}
    elif budget == "smoke":
        base = {"steps": 30, "eval_episodes": 8, "frames": 28, "context": 14}
    else:
        raise ValueError(f"budget must be 'full' or 'smoke' (got {budget!r})")
    return quick(**(base | changes))


def _line(entry: dict[str, Any]) -> str:
    def at(kind: dict[str, Any], name: str) -> str:
        value = kind.get(name)
        return "-" if value is None else f"{value['psnr']:.1f}"

    cut = entry["probe_ablations"]["window"]
    return (
        f"probe far-past-only {at(entry['probe'], 'far-past-only')} dB (cut to window "
        f"{at(cut, 'far-past-only')}), imagined beyond/within "
        f"{at(entry['imagine'], 'beyond-window')}/{at(entry['imagine'], 'within-window')} dB, "
        f"loss {entry['final_loss']:.4f}, {entry['train_seconds']:.0f} s"
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def quick(**changes: Any) -> SyntheticMemoryConfig:
    """A config with task fields and run fields overridden by name (for scripts and tests)."""
    task_fields = set(TurnTask.__dataclass_fields__)
    task = replace(TurnTask(), **{k: v for k, v in changes.items() if k in task_fields})
    rest = {k: v for k, v in changes.items() if k not in task_fields}
    return replace(SyntheticMemoryConfig(task=task), **rest)


def seed_script_args(
    argv: list[str], usage: str, names: Collection[str] | None = None
) -> tuple[str, list[int], int]:
    """The arguments ``NAME SEEDS [THREADS]`` of the seed scripts under docs/results/ that
    call train_seeds: the change's name (one of ``names`` when given), comma-separated seeds,
    and threads (default 2). Wrong arguments exit with ``usage``."""
    if len(argv) not in (2, 3):
        raise SystemExit(f"usage: {usage}")
    name = argv[0]
    if names is not None and name not in names:
        raise SystemExit(f"unknown change {name!r}; use one of {', '.join(names)}")
    try:
        seeds = [int(seed) for seed in argv[1].split(",")]
        threads = int(argv[2]) if argv[2:] else 2
    except ValueError:
        raise SystemExit(
            f"seeds and threads must be integers (seeds comma-separated); usage: {usage}"
        ) from None
    return name, seeds, threads


def train_seeds_from_argv(
    argv: list[str], usage: str, changes: Mapping[str, dict[str, Any]], root: Path
) -> list[dict[str, Any]]:
    """A seed script's whole job: ``NAME SEEDS [THREADS]`` (seed_script_args), with NAME one
    of ``changes``, then train_seeds of that change's model overrides under ``root``."""
    name, seeds, threads = seed_script_args(argv, usage, changes)
    return train_seeds(name, changes[name], seeds, root, threads=threads)


def train_seeds(
    name: str,
    model_overrides: dict[str, Any],
    seeds: list[int],
    root: Path,
    steps: int = 1500,
    threads: int = 2,
    variant: str = "hybrid",
) -> list[dict[str, Any]]:
    """One change to a model (the hybrid by default), trained and scored on several seeds
    (each seed changes the initialisation, batches, noise and held-out episodes): seed
    differences are as large as most single-run effects (docs/experiments.md, 26). Runs go to
    root/NAME-sSEED (resumable); prints one line per seed and returns the model's scores."""
    results = []
    for seed in seeds:
        start = time.time()
        config = quick(
            steps=steps,
            progress=False,
            threads=threads,
            seed=seed,
            variants=(variant,),
            model_overrides=model_overrides,
        )
        scores = run_synthetic_memory(config, root / f"{name}-s{seed}")["models"][variant]
        print(
            f"{name} seed {seed}: imagined beyond window "
            f"{scores['imagine']['beyond-window']['psnr']:.2f} dB, probe far past only "
            f"{scores['probe']['far-past-only']['psnr']:.2f} dB, final loss "
            f"{scores['final_loss']:.4f}, {time.time() - start:.0f} s",
            flush=True,
        )
        results.append(scores)
    return results
