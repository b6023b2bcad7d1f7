"""Retrain only the hybrid of a finished `lsswm experiment memory` run with some settings
changed, and score it with the experiment's own evaluation beside that run's causal-window
and causal models.

The new hybrid uses the source run's data, tokenizer, curriculum, seeds, batches and noise, so
the comparison is paired exactly as in the experiment. The baselines are not retrained: the
changes must be ones that do not touch them (scan settings; they have no scan), and their
configs as rebuilt here are checked against the trained checkpoints. Resumable: a re-run
continues the training and reuses every cached imagination.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from lsswm.experiments.memory import (
    BUDGETS,
    VARIANTS,
    _logger,
    evaluate_experiment,
    experiment_configs,
    resolved_model,
    results_table,
)
from lsswm.worldmodel.checkpoint import load_tokenizer, read_metadata
from lsswm.worldmodel.train.loop import train

# The `--set` overrides of docs/results/memory-maze-fourier/ (runs/maze-fourier): 1x1/4x4 scan
# blocks, and the MLP ratio that kept the hybrid at 587K parameters with its Fourier keys.
MAZE_FOURIER_OVERRIDES = ["model.scan_blocks=1x1,4x4,1x1,4x4", "model.mlp_ratio=3.5078125"]


def retrain_hybrid(
    source: Path,
    out: Path,
    source_overrides: list[str],
    hybrid_changes: list[str],
    threads: int = 1,
) -> dict[str, Any]:
    """source: the finished experiment; source_overrides: the `--set` overrides it ran with;
    hybrid_changes: further `--set` overrides for the new hybrid only. Writes out/results.*,
    out/training.json and returns the summary."""
    budget = BUDGETS["full"]
    out.mkdir(parents=True, exist_ok=True)
    log = _logger(out)
    for shared in ("data-train", "data-eval", "tokenizer"):
        if not (out / shared).exists():
            (out / shared).symlink_to((source / shared).resolve())
    for cached in (source / "imagined").glob("causal*.pt"):  # the baselines' imaginations
        (out / "imagined").mkdir(exist_ok=True)
        if not (out / "imagined" / cached.name).exists():
            shutil.copy2(cached, out / "imagined" / cached.name)
    latent = load_tokenizer(out / "tokenizer" / "tokenizer.safetensors").config.latent_shape
    new_settings = [*source_overrides, *hybrid_changes, f"system.threads={threads}"]
    new = experiment_configs(out, budget, latent, new_settings)
    old = experiment_configs(source, budget, latent, source_overrides)
    for variant in VARIANTS[1:]:  # the baselines must be the trained ones, exactly
        trained = json.loads(
            read_metadata(source / variant / "world_model.safetensors")["world_model_config"]
        )
        built = resolved_model(old[variant], latent).to_dict()
        # Fields added since (absent from the checkpoint) keep the old behaviour by default.
        differing = {k for k in built if k in trained and built[k] != trained[k]}
        if differing:
            raise SystemExit(f"{variant}: the rebuilt config differs in {sorted(differing)}")
    start = time.perf_counter()
    result = train(new["hybrid"])
    if result.interrupted:
        raise SystemExit("training interrupted (checkpoint saved); re-run to resume")
    seconds_path = out / "training.json"
    totals = json.loads((source / "training.json").read_text())
    previous = json.loads(seconds_path.read_text()) if seconds_path.exists() else {}
    hybrid_seconds = previous.get("hybrid", {}).get("seconds", 0.0) + time.perf_counter() - start
    totals["hybrid"] = {"step": result.step, "last_loss": None, "seconds": hybrid_seconds}
    seconds_path.write_text(json.dumps(totals, indent=2) + "\n")
    configs = {"hybrid": new["hybrid"], **{v: old[v] for v in VARIANTS[1:]}}
    summary = evaluate_experiment(out, budget, configs, latent, totals, log)
    summary.update(
        budget="full",
        overrides=source_overrides,
        hybrid_changes=hybrid_changes,
        baselines_from=str(source),
    )
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(results_table(summary) + "\n")
    log("\n" + results_table(summary))
    return summary


def main(argv: list[str] | None = None) -> None:
    """python -m lsswm.experiments.memory_retrain SOURCE OUT --set model.KEY=VALUE ..."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m lsswm.experiments.memory_retrain",
        description="retrain only the hybrid of a finished memory experiment (run with the "
        "overrides of docs/results/memory-maze-fourier/) with some settings changed, and "
        "score it beside that run's causal-window and causal models",
    )
    parser.add_argument("source", type=Path, help="the finished experiment, e.g. runs/maze-fourier")
    parser.add_argument("out", type=Path, help="folder for the new hybrid and its scores")
    parser.add_argument(
        "--set", nargs="+", required=True, metavar="KEY=VALUE", help="the hybrid's changes"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    retrain_hybrid(args.source, args.out, MAZE_FOURIER_OVERRIDES, args.set, args.threads)


if __name__ == "__main__":
    main()
