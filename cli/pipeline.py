"""`lsswm demo`: the end-to-end main job on an embedded default small enough for a laptop CPU.

It grows with the project: today it collects a few Memory Maze episodes and writes a video.
"""

from __future__ import annotations

import argparse

from lsswm.cli.registry import CommandRegistry


def register(registry: CommandRegistry) -> None:
    registry.add("demo", "run the end-to-end pipeline on a tiny default", _configure, _run)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)


def _run(args: argparse.Namespace) -> int:
    raise NotImplementedError("filled in once envs and collect land")
