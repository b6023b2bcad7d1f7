"""The Memory Maze memory experiment with a conv-free hybrid (`ssm_conv_width=1`,
docs/experiments.md, section 31): retrain only the hybrid, on the data, tokenizer, curriculum, seeds, batches and
noise of `runs/maze-fourier` (docs/results/memory-maze-fourier/), and score it with the
experiment's own evaluation beside that run's causal-window and causal models, which the
conv does not touch (they have no scan). Resumable: a re-run continues the training and
reuses every cached imagination.

    python docs/results/memory-maze-conv1/train_and_score.py runs/maze-fourier runs/maze-conv1
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

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

# The command of docs/results/memory-maze-fourier/ (1x1/4x4 blocks; the MLP ratio that kept
# the hybrid at 587K parameters with its Fourier keys).
OVERRIDES = ["model.scan_blocks=1x1,4x4,1x1,4x4", "model.mlp_ratio=3.5078125"]


def main(source: Path, out: Path, threads: int = 1) -> None:
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
    threads_setting = [f"system.threads={threads}"]
    no_conv = ["model.ssm_conv_width=1"]
    new = experiment_configs(out, budget, latent, [*OVERRIDES, *no_conv, *threads_setting])
    old = experiment_configs(source, budget, latent, OVERRIDES)
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
    summary.update(budget="full", overrides=OVERRIDES, baselines_from=str(source))
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(results_table(summary) + "\n")
    log("\n" + results_table(summary))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
