"""Start-of-run time estimates of the experiment commands (lsswm.cli.estimate's one line).

Rates are what the committed runs took on the project's shared 2-core CPU (upper bounds):
docs/results/memory-synthetic/summary.json and docs/results/memory-maze/training.json.
Work already on disk (trained models, finished training steps) is not counted again.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lsswm.cli.estimate import Part, print_estimate

# Synthetic: seconds per training step of each model, 2 threads, one model at a time (3000
# steps in 446 s, 252 s and 242 s, docs/experiments.md section 17); variants named hybrid-*
# cost what the hybrid costs.
SYNTHETIC_SECONDS_PER_STEP = {"hybrid": 0.149, "causal-window": 0.084, "causal": 0.081}
# Scoring one model at the full budget (64 held-out 36-frame episodes): about 30 s.
SYNTHETIC_SCORING_SECONDS = 30.0
SYNTHETIC_SCORED_FRAMES = 64 * 36
# The rates above are for the default task: batch 16 x 36 frames x a 2x2 latent grid. Other
# geometries scale them by the tokens per step; that overestimated the 4x4x16 and 2x2x8
# 20-view runs of docs/experiments.md section 13 by about 1.7x (1.15 against 0.66 s/step).
SYNTHETIC_GRID_TOKENS = 4  # the default task's 2x2 latent grid
SYNTHETIC_TOKENS_PER_STEP = 16 * 36 * SYNTHETIC_GRID_TOKENS


def synthetic_token_ratio(run: Any) -> float:
    """Tokens per training step of `run` against the default task's (rates scale with it)."""
    task = run.task
    return run.batch_size * task.frames * task.height * task.width / SYNTHETIC_TOKENS_PER_STEP


# Memory Maze: the three models train side by side, so the wall time per step is the slowest
# model's with three processes on two cores (causal: 4666 s for 2400 steps); collection ran
# at ~200 env steps/s on 2 workers, the tokenizer at ~0.045 s/step, scoring ~2 min.
MAZE_SECONDS_PER_STEP = 1.95
MAZE_SECONDS_PER_ENV_STEP = 0.01
MAZE_TOKENIZER_SECONDS_PER_STEP = 0.045
MAZE_SCORING_SECONDS = 120.0


def memory_synthetic(run: Any, out: Path, budget: str) -> float:
    """The estimate of `lsswm experiment memory-synthetic` for its SyntheticMemoryConfig."""
    models = Path(out) / "models"
    parts = []
    for name in run.variants:
        if (models / f"{name}.safetensors").exists() and (models / f"{name}.json").exists():
            continue  # trained before: only scored (or skipped) this time
        rate = SYNTHETIC_SECONDS_PER_STEP.get(name, SYNTHETIC_SECONDS_PER_STEP["hybrid"])
        rate *= synthetic_token_ratio(run)
        parts.append(Part(run.steps, f"{name} training steps", rate))
    tokens_per_frame = run.task.height * run.task.width / SYNTHETIC_GRID_TOKENS
    share = run.eval_episodes * run.task.frames * tokens_per_frame / SYNTHETIC_SCORED_FRAMES
    parts.append(
        Part(len(run.variants), "models to score", SYNTHETIC_SCORING_SECONDS * share, per="model")
    )
    quick = "--budget smoke" if budget != "smoke" else None
    return print_estimate(parts, quick=quick, label="memory-synthetic")


def memory_maze(args: argparse.Namespace) -> float:
    from lsswm.experiments.memory import BUDGETS, VARIANTS
    from lsswm.worldmodel.checkpoint import latest_step
    from lsswm.worldmodel.train.config import parse_curriculum

    budget = BUDGETS[args.budget]
    out = Path(args.out)
    total_steps = sum(stage.steps for stage in parse_curriculum(budget.curriculum))
    left = max(total_steps - latest_step(out / variant) for variant in VARIANTS)
    env_steps = (budget.train_episodes + budget.eval_episodes) * budget.episode_steps
    parts = [
        Part(env_steps, "env steps", MAZE_SECONDS_PER_ENV_STEP, parallel=2, where="on 2 workers"),
        Part(budget.tokenizer_steps, "tokenizer steps", MAZE_TOKENIZER_SECONDS_PER_STEP),
        Part(left, "training steps of 3 models side by side", MAZE_SECONDS_PER_STEP, per="step"),
    ]
    quick = "--budget smoke" if args.budget != "smoke" else None
    return print_estimate(
        parts, overhead_s=MAZE_SCORING_SECONDS, quick=quick, label="experiment memory"
    )
