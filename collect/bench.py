"""``lsswm bench collect`` and ``lsswm bench loader``: tables on stdout plus a JSON file.

collect: (1) overhead of the collector over stock env stepping, in one process, on the same
seeded episode (same seed, so the maze is built once and every run steps the same
trajectory). ``stock env.step`` runs ``policy.act`` + ``env.step``; ``collector path`` runs the
real recorder (``rollout_episode``) and the atomic, checksummed episode write.
``overhead_pct`` is measured inside each collector run: (run time - time spent inside the
env's reset/step and the policy) / that env+policy time, median over runs; it is robust to
other load on the machine, unlike ``wall_ratio_pct``, the ratio of the two paths' median wall
times (printed too). (2) Scaling: ``collect`` with 1, 2, ... worker processes on the same
episodes; throughput is env steps over wall time including worker start-up and maze builds.

loader: frames/s of ``WindowDataset`` windows (L=64 and L=400 by default), read directly and
through a torch DataLoader with (persistent) worker processes and default collation, on warm
page cache; the timed pass is the second one, after the workers started.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"
        return str(value)

    cells = [[fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def write_json(path: str | Path | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {path}")


# ---- collection overhead and scaling ---------------------------------------------------------


class _Timed:
    """Proxy that accumulates the wall time spent inside chosen methods of an object."""

    def __init__(self, target: Any, methods: Sequence[str]) -> None:
        self._target = target
        self.seconds = 0.0
        for name in methods:
            setattr(self, name, self._wrap(getattr(target, name)))

    def _wrap(self, method):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def measure_overhead(env_id: str, policy_name: str, steps: int, repeats: int) -> dict[str, Any]:
    """Collector overhead over stock stepping, two ways (see the module docstring)."""
    from lsswm.collect.episode_store import write_episode
    from lsswm.collect.policies import make_policy
    from lsswm.collect.rollout import make_env, rollout_episode

    env = make_env(env_id)
    policy = make_policy(policy_name, env, max_steps=steps)
    seed = 0
    env.reset(seed=seed)  # build the task once: every timed run below reuses it

    def stock() -> int:
        obs, info = env.reset(seed=seed)
        policy.reset(seed, obs, info)
        done_steps = 0
        for _ in range(steps):
            obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
            done_steps += 1
            if terminated or truncated:
                break
        return done_steps

    walls: dict[str, list[float]] = {"stock env.step": [], "collector path": []}
    shares: list[float] = []
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="lsswm-bench-") as scratch:
        for _ in range(repeats):
            start = time.perf_counter()
            counts["stock env.step"] = stock()
            walls["stock env.step"].append(time.perf_counter() - start)
            # The real collector path (record + atomic checksummed write), with the time
            # spent inside the env and the policy measured on the way.
            timed_env = _Timed(env, ("reset", "step"))
            timed_policy = _Timed(policy, ("reset", "act"))
            start = time.perf_counter()
            data = rollout_episode(timed_env, timed_policy, seed, steps)
            write_episode(Path(scratch), 0, data.arrays, {"seed": seed})
            total = time.perf_counter() - start
            walls["collector path"].append(total)
            counts["collector path"] = data.steps
            inside = timed_env.seconds + timed_policy.seconds
            shares.append((total - inside) / inside)
    env.close()
    rows = [
        {
            "path": name,
            "steps": counts[name],
            "median_s": statistics.median(samples),
            "steps_per_s": counts[name] / statistics.median(samples),
        }
        for name, samples in walls.items()
    ]
    rows[1]["wall_ratio_pct"] = 100.0 * (rows[0]["steps_per_s"] / rows[1]["steps_per_s"] - 1)
    rows[1]["overhead_pct"] = 100.0 * statistics.median(shares)
    return {
        "env": env_id,
        "policy": policy_name,
        "repeats": repeats,
        "rows": rows,
        "overhead_pct_per_run": [100.0 * share for share in shares],
    }


def measure_scaling(
    env_id: str, policy_name: str, steps: int, episodes: int, workers: Sequence[int]
) -> dict[str, Any]:
    from lsswm.collect.collector import CollectConfig, collect

    rows = []
    for count in workers:
        with tempfile.TemporaryDirectory(prefix="lsswm-bench-") as scratch:
            config = CollectConfig(
                env_id, episodes, steps, policy_name, str(Path(scratch) / "d"), workers=count
            )
            start = time.perf_counter()
            summary = collect(config)
            wall = time.perf_counter() - start
        rows.append(
            {"workers": count, "episodes": episodes, "env_steps": summary.env_steps, "wall_s": wall}
        )
    for row in rows:
        row["steps_per_s"] = row["env_steps"] / row["wall_s"]
    # Repeated counts (--workers 1,2,1,2) interleave runs against drifting machine load; the
    # speedup is relative to the mean throughput of the smallest worker count.
    fewest = min(workers)
    base = statistics.mean(r["steps_per_s"] for r in rows if r["workers"] == fewest)
    for row in rows:
        row["speedup"] = row["steps_per_s"] / base
    return {"env": env_id, "policy": policy_name, "steps": steps, "rows": rows}


def bench_collect(args) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if not args.skip_overhead:
        overhead = measure_overhead(args.env, args.policy, args.steps, args.repeats)
        print(f"\ncollection overhead: {args.env}, policy {args.policy}, {args.steps} steps")
        print_table(
            overhead["rows"],
            ["path", "steps", "median_s", "steps_per_s", "wall_ratio_pct", "overhead_pct"],
        )
        result["overhead"] = overhead
    workers = [int(w) for w in str(args.workers).split(",") if w]
    if workers:
        episodes = args.episodes or 2 * max(workers)
        scaling = measure_scaling(args.env, args.policy, args.steps, episodes, workers)
        print(f"\nworker scaling: {args.env}, {episodes} episodes x {args.steps} steps")
        print_table(
            scaling["rows"],
            ["workers", "episodes", "env_steps", "wall_s", "steps_per_s", "speedup"],
        )
        result["scaling"] = scaling
    write_json(args.json, result)
    return result


# ---- window loader -----------------------------------------------------------------------


def synthesize_dataset(root: Path, episodes: int = 6, frames: int = 1001) -> Path:
    """A Memory-Maze-shaped dataset of random frames (loader speed does not care)."""
    from lsswm.collect.episode_store import write_episode
    from lsswm.collect.manifest import Manifest

    rng = np.random.default_rng(0)
    manifest = Manifest("synthetic", "random", frames - 1, 0, episodes)
    for index in range(episodes):
        arrays = {
            "frames": rng.integers(0, 256, (frames, 64, 64, 3), dtype=np.uint8),
            "actions": rng.integers(0, 6, frames),
            "rewards": np.zeros(frames, np.float32),
            "terminated": np.zeros(frames, bool),
            "truncated": np.zeros(frames, bool),
            "state/agent_pos": rng.uniform(0, 9, (frames, 2)),
            "state/agent_dir": rng.uniform(-1, 1, (frames, 2)),
            "state/maze_layout": rng.integers(0, 2, (frames, 9, 9), dtype=np.uint8),
        }
        manifest.add(write_episode(root, index, arrays, {"seed": index}))
    spec = {"agent_pos": ((2,), np.float64), "agent_dir": ((2,), np.float64)}
    spec["maze_layout"] = ((9, 9), np.uint8)
    from lsswm.collect.manifest import describe_state_spec

    manifest.set_env_description(
        (64, 64, 3), {"type": "discrete", "n": 6}, describe_state_spec(spec)
    )
    manifest.save(root)
    return root


def measure_loader(
    root: Path, lengths: Sequence[int], windows: int, batch_size: int, workers: Sequence[int]
) -> list[dict[str, Any]]:
    import torch

    from lsswm.collect.windows import WindowDataset

    rows = []
    for length in lengths:
        dataset = WindowDataset(root, length, seed=0, windows_per_epoch=windows)
        for _ in dataset:  # warm the page cache: the table reports steady-state reads
            pass
        start = time.perf_counter()
        count = sum(1 for _ in dataset)
        elapsed = time.perf_counter() - start
        rows.append(
            {
                "L": length,
                "reader": "direct",
                "windows": count,
                "frames_per_s": count * length / elapsed,
                "ms_per_window": 1000 * elapsed / count,
            }
        )
        for num_workers in workers:
            loader = torch.utils.data.DataLoader(
                dataset,
                batch_size=batch_size,
                num_workers=num_workers,
                persistent_workers=num_workers > 0,
            )
            for _ in loader:  # start the workers; the timed pass is the steady state
                pass
            start = time.perf_counter()
            frames = sum(batch["frames"].shape[0] * length for batch in loader)
            elapsed = time.perf_counter() - start
            rows.append(
                {
                    "L": length,
                    "reader": f"DataLoader b={batch_size} w={num_workers}",
                    "windows": frames // length,
                    "frames_per_s": frames / elapsed,
                    "ms_per_window": 1000 * elapsed * length / frames,
                }
            )
    return rows


def bench_loader(args) -> dict[str, Any]:
    lengths = [int(x) for x in str(args.lengths).split(",") if x]
    workers = [int(x) for x in str(args.loader_workers).split(",") if x]
    with tempfile.TemporaryDirectory(prefix="lsswm-bench-") as scratch:
        root = Path(args.data) if args.data else synthesize_dataset(Path(scratch) / "synthetic")
        rows = measure_loader(root, lengths, args.windows, args.batch_size, workers)
    print(f"\nwindow loader: {args.data or 'synthetic 6 x 1001 frames 64x64'} (warm page cache)")
    print_table(rows, ["L", "reader", "windows", "frames_per_s", "ms_per_window"])
    result = {"data": args.data or "synthetic", "rows": rows}
    write_json(args.json, result)
    return result
