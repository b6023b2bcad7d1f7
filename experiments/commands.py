"""CLI: `lsswm experiment memory` and `lsswm experiment memory-synthetic`.

Cheap to import (no torch): the handlers import the experiments when they run.
"""

from __future__ import annotations

import argparse
from typing import Any

from lsswm.worldmodel.train.commands import add_set_option, config_overrides


def configure_memory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="runs/memory-experiment",
        help="experiment folder (datasets, runs, results); re-run to resume",
    )
    parser.add_argument(
        "--budget",
        choices=("full", "smoke"),
        default="full",
        help="full: ~80 min on 2 CPU cores (three models side by side); smoke: ~2 min",
    )
    parser.add_argument("--workers", type=int, default=2, help="collection worker processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_set_option(parser, "override fields of every training run (as in lsswm train)")


def run_memory(args: argparse.Namespace) -> int:
    from lsswm.experiments.estimates import memory_maze
    from lsswm.experiments.memory import run_memory_experiment

    memory_maze(args)
    summary = run_memory_experiment(
        args.out, args.budget, args.workers, config_overrides(args), progress=not args.no_progress
    )
    return 130 if summary is None else 0


SYNTHETIC_VARIANTS = (
    "hybrid",
    "causal-window",
    "causal",
    "hybrid-mamba2-scan",
    "hybrid-dt-gain",
    "hybrid-mamba2-decay",
    "hybrid-no-conv",
    "hybrid-content-keys",
    "hybrid-embedding-keys",
    "hybrid-delta",
    "hybrid-view-keys",
)


def configure_memory_synthetic(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument(
        "--out", metavar="DIR", default="runs/memory-synthetic", help="results folder"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=SYNTHETIC_VARIANTS,
        default=["hybrid", "causal-window", "causal"],
        help="models to train; the hybrid-* rows are scan ablations, hybrid-delta the gated "
        "delta rule with clean-weighted writes, and hybrid-view-keys the "
        "hybrid with keys for each token's viewing direction (docs/experiments.md)",
    )
    parser.add_argument(
        "--budget",
        choices=("full", "smoke"),
        default="full",
        help="full: the documented run (about 10 min per model on 2 cores); smoke: 1 minute",
    )
    parser.add_argument("--views", type=int, default=12, help="views per full turn")
    parser.add_argument(
        "--actions",
        choices=("pose", "discrete"),
        default="pose",
        help="what the model is told: the camera pose (cos, sin of the heading; the paper's "
        "Memory Maze protocol) or the discrete turn (left/right; what agents send)",
    )
    parser.add_argument(
        "--view-drift",
        type=float,
        default=0.0,
        help="tokens each full turn overshoots by, so views recur shifted (a Memory Maze turn "
        "of 20 steps overshoots by about a third of a 4x4 latent token); 0: exact recurrences",
    )
    parser.add_argument(
        "--latent",
        default="2x2x8",
        metavar="HxWxC",
        help="each view's latent grid (4x4x16 is the Memory Maze tokenizer's)",
    )
    parser.add_argument(
        "--scan-blocks",
        default="",
        metavar="HxW,...",
        help="the hybrid's scan blocks, cycled over layers (2x2,4x4: the Memory Maze hybrid's); "
        "empty: 1x1 and whole-frame in turn",
    )
    parser.add_argument("--frames", type=int, default=None, help="frames per episode")
    parser.add_argument("--context", type=int, default=None, help="clean frames before scoring")
    parser.add_argument("--batch-size", type=int, default=None, help="episodes per batch")
    parser.add_argument("--eval-episodes", type=int, default=None, help="held-out episodes")
    parser.add_argument("--state-size", type=int, default=64, help="scan state size N")
    parser.add_argument("--steps", type=int, default=None, help="training steps per model")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_grid(text: str, parts: int, flag: str) -> tuple[int, ...]:
    """ "4x4x16" -> (4, 4, 16), with a clear error naming the flag."""
    try:
        values = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        values = ()
    if len(values) != parts or min(values) < 1:
        example = "4x4x16" if parts == 3 else "2x2"
        raise SystemExit(f"{flag} {text!r}: expected {parts} positive integers like {example}")
    return values


def run_memory_synthetic(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lsswm.experiments.estimates import memory_synthetic
    from lsswm.experiments.memory_synthetic import budget_config, run_synthetic_memory

    height, width, channels = parse_grid(args.latent, 3, "--latent")
    blocks = [parse_grid(b, 2, "--scan-blocks") for b in args.scan_blocks.split(",") if b]
    optional = {"steps": args.steps, "frames": args.frames, "context": args.context}
    optional |= {"batch_size": args.batch_size, "eval_episodes": args.eval_episodes}
    run = budget_config(
        args.budget,
        variants=tuple(args.variants),
        n_views=args.views,
        view_drift=args.view_drift,
        action_kind=args.actions,
        height=height,
        width=width,
        channels=channels,
        scan_blocks=tuple(blocks),
        state_size=args.state_size,
        seed=args.seed,
        threads=args.threads,
        progress=not args.no_progress,
        **{name: value for name, value in optional.items() if value is not None},
    )
    memory_synthetic(run, Path(args.out), args.budget)
    run_synthetic_memory(run, Path(args.out))
    return 0


def register(registry: Any) -> None:
    registry.describe_group("experiment", "reproducible experiments")
    registry.add(
        "memory",
        "CPU memory experiment: hybrid vs causal-window on revisited places",
        configure_memory,
        run_memory,
        group="experiment",
    )
    registry.add(
        "memory-synthetic",
        "synthetic recall: hybrid vs causal-window vs causal on a turning camera",
        configure_memory_synthetic,
        run_memory_synthetic,
        group="experiment",
    )
