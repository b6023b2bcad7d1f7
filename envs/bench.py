"""Environment stepping speed: stock vs ours, measured side by side in one process.

Memory Maze: dm_control's stock per-contact Python loop (``fast_contacts=False``) against our
vectorised check (``fast_contacts=True``), 9x9 and 15x15. Crafter: the raw crafter env (old
4-tuple API) against ``lsswm/Crafter-v0``, which shows our wrapper's overhead.

Each variant's env is built once (build and reset time are not counted); then the repeats run
round-robin over the variants, so slow drifts of a shared machine hit every variant alike. A
measurement times ``steps`` steps of one fixed random action sequence (resets at episode ends
are excluded); the table shows the median over repeats.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class _Variant:
    group: str  # the row of the table, e.g. "MemoryMaze-9x9"
    role: str  # "stock" or "ours"
    label: str
    make: Callable[[], Any]
    n_actions: int
    raw_crafter: bool = False  # old 4-tuple API without seeds in reset


def _memory_maze_variants(size: int) -> list[_Variant]:
    from lsswm.envs.memory_maze import MemoryMazeEnv

    group = f"MemoryMaze-{size}x{size}"
    return [
        _Variant(
            group,
            "stock",
            "dm_control contact loop",
            lambda: MemoryMazeEnv(size, fast_contacts=False),
            6,
        ),
        _Variant(
            group, "ours", "vectorised contacts", lambda: MemoryMazeEnv(size, fast_contacts=True), 6
        ),
    ]


def _crafter_variants(seed: int) -> list[_Variant]:
    # Through our module: it imports crafter with gym's start-up banner silenced.
    from lsswm.envs import crafter_env
    from lsswm.envs.crafter_env import ACTION_NAMES, CrafterEnv

    return [
        _Variant(
            "Crafter",
            "stock",
            "crafter.Env (4-tuple)",
            lambda: crafter_env.crafter.Env(seed=seed),
            len(ACTION_NAMES),
            True,
        ),
        _Variant("Crafter", "ours", "lsswm/Crafter-v0", CrafterEnv, len(ACTION_NAMES)),
    ]


def _steps_per_second(variant: _Variant, env: Any, steps: int, seed: int) -> float:
    actions = np.random.default_rng(seed).integers(variant.n_actions, size=steps)
    if variant.raw_crafter:
        env.reset()
    else:
        env.reset(seed=seed)
    elapsed = 0.0
    for action in actions:
        start = time.perf_counter()
        if variant.raw_crafter:
            _, _, done, _ = env.step(int(action))
        else:
            _, _, terminated, truncated, _ = env.step(int(action))
            done = terminated or truncated
        elapsed += time.perf_counter() - start
        if done:
            env.reset()  # continues the seeded stream; not timed
    return steps / elapsed


def run_step_benchmark(
    steps: int = 200,
    repeats: int = 3,
    maze_sizes: tuple[int, ...] = (9, 15),
    include_crafter: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure steps/s of every variant; returns the JSON-ready result (see module doc)."""
    from tqdm import tqdm

    load_at_start = _load_average()  # before our own work: other jobs sharing the CPU
    variants: list[_Variant] = []
    for size in maze_sizes:
        variants += _memory_maze_variants(size)
    if include_crafter:
        variants += _crafter_variants(seed)

    envs = {}
    for variant in tqdm(variants, desc="building envs", unit="env", leave=False):
        envs[id(variant)] = variant.make()
    rates: dict[int, list[float]] = {id(v): [] for v in variants}
    with tqdm(total=repeats * len(variants), desc="measuring", unit="run") as progress:
        for _ in range(repeats):
            for variant in variants:
                rate = _steps_per_second(variant, envs[id(variant)], steps, seed)
                rates[id(variant)].append(rate)
                progress.set_postfix_str(f"{variant.group} {variant.role} {rate:.1f} steps/s")
                progress.update()
    for env in envs.values():
        if hasattr(env, "close"):
            env.close()

    rows = []
    for group in dict.fromkeys(v.group for v in variants):
        by_role = {v.role: v for v in variants if v.group == group}
        row: dict[str, Any] = {"env": group}
        for role, variant in by_role.items():
            row[role] = {
                "label": variant.label,
                "median_steps_per_s": statistics.median(rates[id(variant)]),
                "runs_steps_per_s": rates[id(variant)],
            }
        row["speedup"] = row["ours"]["median_steps_per_s"] / row["stock"]["median_steps_per_s"]
        rows.append(row)
    return {
        "benchmark": "env_steps",
        "steps_per_run": steps,
        "repeats": repeats,
        "seed": seed,
        "results": rows,
        "machine": {
            **_machine_facts(),
            "load_average_1m_at_start": load_at_start,
            "load_average_1m_at_end": _load_average(),
        },
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"{'env':<18} {'stock steps/s':>14} {'ours steps/s':>13} {'speedup':>8}  stock / ours",
    ]
    for row in result["results"]:
        lines.append(
            f"{row['env']:<18} {row['stock']['median_steps_per_s']:>14.1f} "
            f"{row['ours']['median_steps_per_s']:>13.1f} {row['speedup']:>7.2f}x  "
            f"{row['stock']['label']} / {row['ours']['label']}"
        )
    machine = result["machine"]
    load_start, load_end = machine["load_average_1m_at_start"], machine["load_average_1m_at_end"]
    lines.append(
        f"medians of {result['repeats']} x {result['steps_per_run']} steps; "
        f"{machine['cpu_count']} CPUs, load average {load_start:.2f} at start and "
        f"{load_end:.2f} at end (other jobs share the CPU if above ~1); "
        f"MUJOCO_GL={machine['mujoco_gl']}"
    )
    return "\n".join(lines)


def write_result(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def _machine_facts() -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for package in ("mujoco", "dm-control", "memory-maze", "crafter", "numba", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
        "versions": versions,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _load_average() -> float:
    """1-minute load average (shows whether other jobs shared the CPU), NaN if unknown."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
