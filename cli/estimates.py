"""Start-of-run estimates that the dispatcher prints for commands that do not print their own.

Most long commands print their estimate where the work is planned (collect, train, the eval
suites, train-in-imagination: lsswm.cli.estimate). `lsswm experiment memory-synthetic` is
planned in experiments/, which is being reworked; until its command prints one itself, the
dispatcher prints it from here, before the handler runs. Move it next to the command (and
drop the entry in BEFORE_RUN) when that folder is free.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

# Seconds per training step of each synthetic-memory model at the experiment's defaults,
# one thread each on the shared 2-core CPU (docs/results/memory-synthetic/summary.json:
# 3000 steps in 1279 s, 694 s and 430 s; upper bounds). Variants named hybrid-* are the
# hybrid with part of its scan recipe taken back: the hybrid's cost.
SYNTHETIC_SECONDS_PER_STEP = {"hybrid": 0.43, "causal-window": 0.23, "causal": 0.14}
# Scoring one model at the full budget (64 held-out 36-frame episodes: probes and 10-step
# DDIM imagination): about 100 s, what is left of the README's ~45 min after training.
SYNTHETIC_SCORING_SECONDS = 100.0
SYNTHETIC_SCORED_FRAMES = 64 * 36


def memory_synthetic(args: argparse.Namespace) -> None:
    from lsswm.cli.estimate import Part, print_estimate
    from lsswm.experiments.memory_synthetic import budget_config

    run = budget_config(
        args.budget,
        variants=tuple(args.variants),
        n_views=args.views,
        state_size=args.state_size,
        seed=args.seed,
        threads=args.threads,
        **({} if args.steps is None else {"steps": args.steps}),
    )
    models = Path(args.out) / "models"
    parts = []
    for name in run.variants:
        if (models / f"{name}.safetensors").exists() and (models / f"{name}.json").exists():
            continue  # trained before: only scored (or skipped) this time
        rate = SYNTHETIC_SECONDS_PER_STEP.get(name, SYNTHETIC_SECONDS_PER_STEP["hybrid"])
        parts.append(Part(run.steps, f"{name} training steps", rate))
    share = run.eval_episodes * run.task.frames / SYNTHETIC_SCORED_FRAMES
    scoring = SYNTHETIC_SCORING_SECONDS * share
    parts.append(Part(len(run.variants), "models to score", scoring, per="model"))
    quick = "--budget smoke" if args.budget != "smoke" else None
    print_estimate(parts, quick=quick, label="memory-synthetic")


# (group, name) of a command -> its estimate, printed before the handler runs.
BEFORE_RUN: dict[tuple[str | None, str], Callable[[argparse.Namespace], None]] = {
    ("experiment", "memory-synthetic"): memory_synthetic,
}
