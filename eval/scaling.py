"""`lsswm bench scaling`: the paper's cost comparison, measured with our code.

For each variant, resized to the hybrid's parameter count (worldmodel.sizing; or all at the
hybrid's width with ``equal_params=False``), at one size of
worldmodel.bench's ``BENCH_SIZES`` (``tiny`` for CPU, ``small`` for one GPU):

* Generation against context length L: worldmodel.bench's ``measure_variant`` (the
  ``lsswm bench stream`` measurement: a stream observes L frames, then imagines one chunk;
  median ms per generated frame over repeats, and the carried state's bytes), run once per
  L inside ``memory_meter.peak_memory``, so each point also has the peak memory of
  observing L frames and generating (model weights + stream state + activations; streaming
  observes chunk by chunk, so this is the generation-time peak at that context).
* Training against sequence length T: one optimizer step (diffusion-forcing loss on random
  latents, backward, AdamW) on a batch of T-frame clips; median ms per step after a warm-up
  step, and its peak memory.

Expected shape (Po et al. 2025): causal attention grows with L (its KV cache holds every frame)
and quadratically with T; hybrid, mamba2, mamba2-fla and causal-window stay flat with L and
grow linearly with T. Random weights and latents: the cost does not depend on what the model
learned.
"""

from __future__ import annotations

import gc
import statistics
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lsswm.eval.errors import EvalError
from lsswm.eval.tables import make_table

MIB = 1024 * 1024


@dataclass(frozen=True)
class ScalingOptions:
    variants: tuple[str, ...]
    size: str = "tiny"
    contexts: tuple[int, ...] = (64, 128, 256, 512, 1024)
    train_lengths: tuple[int, ...] = (16, 32, 64, 128)
    denoising_steps: int = 2
    batch_size: int = 1
    repeats: int = 3
    equal_params: bool = True  # resize each variant to the hybrid's parameter count

    @classmethod
    def from_text(
        cls, *, variants: str, contexts: str, train_lengths: str, **rest: Any
    ) -> ScalingOptions:
        from lsswm.worldmodel.config import VARIANTS

        chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
        unknown = [v for v in chosen if v not in VARIANTS]
        if unknown or not chosen:
            raise EvalError(f"--variants {variants!r}: choose from {', '.join(VARIANTS)}")
        return cls(
            variants=chosen,
            contexts=_lengths(contexts, "--contexts"),
            train_lengths=_lengths(train_lengths, "--train-lengths"),
            **rest,
        )

    def check(self) -> None:
        from lsswm.worldmodel.bench import BENCH_SIZES

        if self.size not in BENCH_SIZES:
            raise EvalError(f"--size {self.size!r}: choose one of {', '.join(BENCH_SIZES)}")
        if min(self.batch_size, self.repeats, self.denoising_steps) < 1:
            raise EvalError("--batch-size, --repeats and --denoising-steps must be >= 1")


def _lengths(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError as error:
        raise EvalError(f"{option} {text!r} must be comma-separated integers") from error
    if not values or values[0] < 1:
        raise EvalError(f"{option} {text!r} must list positive frame counts")
    return values


def measure_generation(config: Any, context: int, options: ScalingOptions, device: str) -> dict:
    """ms per generated frame, carried state bytes and peak memory at one context length."""
    import torch

    from lsswm.eval.memory_meter import peak_memory
    from lsswm.worldmodel.bench import measure_variant

    with peak_memory(device) as peak:
        point = measure_variant(
            config,
            [context],
            device=torch.device(device),
            batch_size=options.batch_size,
            repeats=options.repeats,
            denoising_steps=options.denoising_steps,
        )[str(context)]
    return {
        "context": context,
        "ms_per_frame": point["ms_per_frame"],
        "state_bytes": point["state_bytes"],
        "peak_bytes": peak.bytes,
        "peak_method": peak.method,
    }


def measure_training(config: Any, frames: int, options: ScalingOptions, device: str) -> dict:
    """ms per optimizer step (the trainer's: loss, backward, clip, AdamW; eager) and its peak
    memory."""
    import torch

    from lsswm.eval.memory_meter import peak_memory
    from lsswm.worldmodel.bench import timed
    from lsswm.worldmodel.model import WorldModel
    from lsswm.worldmodel.train.bench import random_training_batch, training_steps

    torch_device = torch.device(device)
    with peak_memory(device) as peak:
        torch.manual_seed(0)
        model = WorldModel(config).to(torch_device).train()
        batch = random_training_batch(config, options.batch_size, frames, torch_device)
        step = training_steps(model, ("eager",))["eager"]
        timings = []
        for repeat in range(options.repeats + 1):  # the first step warms up
            seconds, _ = timed(partial(step, batch, seed=repeat), torch_device)
            timings.append(seconds)
        del model, step, batch
    return {
        "frames": frames,
        "ms_per_step": 1000 * statistics.median(timings[1:]),
        "peak_bytes": peak.bytes,
        "peak_method": peak.method,
    }


def run_scaling_benchmark(
    options: ScalingOptions,
    device: str,
    out: str | Path,
    progress: bool = True,
    base_config: Any = None,
) -> dict[str, Any]:
    """Measure every variant, write scaling.json and scaling.png into ``out``.

    ``base_config`` (a hybrid WorldModelConfig) replaces the named size, e.g. for tests."""
    import torch

    from lsswm.worldmodel.bench import BENCH_SIZES
    from lsswm.worldmodel.config import WorldModelConfig
    from lsswm.worldmodel.sizing import equal_size_configs

    options.check()
    base = base_config or WorldModelConfig(variant="hybrid", **BENCH_SIZES[options.size])
    if options.equal_params:
        configs = equal_size_configs(base, options.variants)
    else:
        configs = {v: base.replace(variant=v, scan_blocks=()) for v in options.variants}
    settings = {
        "variants": list(options.variants),
        "size": options.size if base_config is None else "custom",
        "base_config": base.to_dict(),
        "contexts": list(options.contexts),
        "train_lengths": list(options.train_lengths),
        "denoising_steps": options.denoising_steps,
        "batch_size": options.batch_size,
        "repeats": options.repeats,
        "equal_params": options.equal_params,
        "frames_per_generation_measure": base.chunk_size,
        "threads": torch.get_num_threads(),
    }
    # Objects alive now (torch, the configs) never become garbage during the run: freezing
    # them keeps the collections before every memory measurement fast.
    gc.freeze()
    try:
        return _measure_all(options, configs, settings, device, Path(out), progress)
    finally:
        gc.unfreeze()


def _measure_all(
    options: ScalingOptions,
    configs: dict[str, Any],
    settings: dict[str, Any],
    device: str,
    out: Path,
    progress: bool,
) -> dict[str, Any]:
    from tqdm import tqdm

    from lsswm.eval.plots import plot_scaling
    from lsswm.eval.results import new_results, write_results
    from lsswm.worldmodel.sizing import count_parameters

    results = new_results(
        "scaling",
        f"Scaling: cost against context and sequence length ({settings['size']})",
        settings,
        device,
    )
    # One untimed round first: lazy initialisation (kernels, thread pools, allocator arenas)
    # would otherwise land in the first variant's first point.
    first = configs[options.variants[0]]
    measure_generation(first, options.contexts[0], options, device)
    measure_training(first, options.train_lengths[0], options, device)
    points = len(options.variants) * (len(options.contexts) + len(options.train_lengths))
    bar = tqdm(total=points, desc="bench scaling", unit="point", disable=not progress)
    variants: dict[str, Any] = {}
    for variant in options.variants:
        config = configs[variant]
        entry: dict[str, Any] = {
            "parameters": count_parameters(config),
            "d_model": config.d_model,
            "weight_bytes": 4 * count_parameters(config),
            "generation": [],
            "training": [],
        }
        for context in options.contexts:
            bar.set_postfix_str(f"{variant} generate L={context}")
            entry["generation"].append(measure_generation(config, context, options, device))
            bar.update(1)
        for frames in options.train_lengths:
            bar.set_postfix_str(f"{variant} train T={frames}")
            entry["training"].append(measure_training(config, frames, options, device))
            bar.update(1)
        variants[variant] = entry
    bar.close()
    results["variants"] = variants
    results["tables"] = scaling_tables(variants, options)
    if variants:
        method = next(iter(variants.values()))["generation"][0]["peak_method"]
        results["notes"].append(f"peak memory measured by {method} (docs/evaluation.md)")
    plot = plot_scaling(
        {
            v: {
                "context": [p["context"] for p in e["generation"]],
                "ms_per_frame": [p["ms_per_frame"] for p in e["generation"]],
                "peak_mib": [p["peak_bytes"] / MIB or None for p in e["generation"]],
                "train_frames": [p["frames"] for p in e["training"]],
                "ms_per_step": [p["ms_per_step"] for p in e["training"]],
            }
            for v, e in variants.items()
        },
        [
            ("context", "ms_per_frame", "ms per generated frame"),
            ("context", "peak_mib", "peak memory while generating (MiB)"),
            ("train_frames", "ms_per_step", "ms per training step"),
        ],
        out / "scaling.png",
        f"{settings['size']} size on {device}: generation vs context, training vs sequence length",
    )
    results["plots"].append(plot.name)
    write_results(out / "scaling.json", results)
    return results


def scaling_tables(variants: dict[str, Any], options: ScalingOptions) -> list[dict[str, Any]]:
    def ratio(values: list[float]) -> float | None:
        return values[-1] / values[0] if len(values) > 1 and values[0] else None

    contexts, lengths = list(options.contexts), list(options.train_lengths)
    span = f"{contexts[-1]}/{contexts[0]}"
    tables = []
    specs = [
        (
            "Generation: ms per frame after L context frames",
            "generation",
            "ms_per_frame",
            1,
            contexts,
            "L",
        ),
        ("Generation: peak memory (MiB)", "generation", "peak_bytes", MIB, contexts, "L"),
        ("Generation: carried state (KiB)", "generation", "state_bytes", 1024, contexts, "L"),
        ("Training step: ms per step on T-frame clips", "training", "ms_per_step", 1, lengths, "T"),
        ("Training step: peak memory (MiB)", "training", "peak_bytes", MIB, lengths, "T"),
    ]
    for title, part, key, unit, xs, letter in specs:
        rows = []
        for variant, entry in variants.items():
            values = [p[key] / unit for p in entry[part]]
            rows.append([variant, entry["parameters"], *values, ratio(values)])
        ends = span if letter == "L" else f"{lengths[-1]}/{lengths[0]}"
        columns = ["variant", "params", *[f"{letter}={x}" for x in xs], f"ratio {ends}"]
        tables.append(make_table(title, columns, rows))
    return tables
