"""CLI: `lsswm experiment memory`.

Cheap to import (no torch): the handler imports the experiment when it runs.
"""

from __future__ import annotations

import argparse
from typing import Any


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
        help="full: ~30 min on 2 CPU cores; smoke: a minutes-long check",
    )
    parser.add_argument("--workers", type=int, default=2, help="collection worker processes")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="extend",
        nargs="+",
        default=[],
        help="override fields of both training runs (as in lsswm train)",
    )


def run_memory(args: argparse.Namespace) -> int:
    from lsswm.experiments.memory import run_memory_experiment

    summary = run_memory_experiment(args.out, args.budget, args.workers, list(args.overrides))
    return 130 if summary is None else 0


def register(registry: Any) -> None:
    registry.describe_group("experiment", "reproducible experiments")
    registry.add(
        "memory",
        "CPU memory experiment: hybrid vs causal-window on revisited places",
        configure_memory,
        run_memory,
        group="experiment",
    )
