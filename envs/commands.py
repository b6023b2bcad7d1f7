"""CLI: `lsswm envs` (list environments) and `lsswm bench steps` (stepping speed).

Cheap to import: simulators are imported inside the run functions only.
"""

from __future__ import annotations

import argparse

from lsswm.cli.registry import CommandRegistry
from lsswm.envs.errors import EnvError


def register(registry: CommandRegistry) -> None:
    registry.add("envs", "list the registered environments", _configure_envs, _run_envs)
    registry.describe_group("bench", "speed and memory benchmarks")
    registry.add(
        "steps",
        "environment steps/s, stock vs ours (Memory Maze contacts, Crafter wrapper)",
        _configure_steps,
        _run_steps,
        group="bench",
    )


def _configure_envs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ids", action="store_true", help="print only the ids, one per line")


def _run_envs(args: argparse.Namespace) -> int:
    from lsswm.envs.catalog import ENVIRONMENTS

    if args.ids:
        for entry in ENVIRONMENTS:
            print(entry.env_id)
        return 0
    width = max(len(entry.env_id) for entry in ENVIRONMENTS)
    for entry in ENVIRONMENTS:
        print(f"{entry.env_id:<{width}}  obs: {entry.observation}")
        print(f"{'':<{width}}  action: {entry.action}")
        print(f"{'':<{width}}  {entry.notes}")
    print("make one with lsswm.envs.make(id) or gymnasium.make(id) after `import lsswm.envs`")
    return 0


def _configure_steps(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=200, help="steps per run (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument(
        "--mazes",
        type=int,
        nargs="*",
        default=[9, 15],
        choices=[9, 11, 13, 15],
        help="Memory Maze sizes (default 9 15; `--mazes` alone: none)",
    )
    parser.add_argument("--no-crafter", action="store_true", help="skip the Crafter rows")
    parser.add_argument("--seed", type=int, default=0, help="env seed and action seed")
    parser.add_argument(
        "--out", default="runs/bench/steps.json", help="JSON output (default runs/bench/steps.json)"
    )


def _run_steps(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.repeats < 1:
        raise EnvError(f"--steps {args.steps} and --repeats {args.repeats} must both be at least 1")
    if not args.mazes and args.no_crafter:
        raise EnvError("nothing to measure: give --mazes sizes or drop --no-crafter")
    from lsswm.envs.bench import format_table, run_step_benchmark, write_result

    result = run_step_benchmark(
        steps=args.steps,
        repeats=args.repeats,
        maze_sizes=tuple(args.mazes),
        include_crafter=not args.no_crafter,
        seed=args.seed,
    )
    print(format_table(result))
    path = write_result(result, args.out)
    print(f"wrote {path}")
    return 0
