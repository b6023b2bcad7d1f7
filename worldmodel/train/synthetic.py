"""A small synthetic dataset in collect's format with Memory Maze poses, for the tests of
``data.actions=pose`` and for smoke runs (scripts/gpu_check.py). The trainers' other tests
train on collect's toy grid world as collect records it (tests/conftest.py, toy_dataset).

Each episode is a random walk on an open S x S grid seen from above: a per-episode
background colour and a bright square at the agent's cell. It carries Memory-Maze-style
state (``agent_pos`` in cell units, ``agent_dir`` unit heading, ``maze_layout``), so both
``data.actions=dataset`` (5 discrete moves) and ``data.actions=pose`` work on it. Written with
collect's episode writer and manifest, so it loads exactly like a collected dataset. The
moves are those of collect's toy grid world (``lsswm-toy/ToyGrid-v0``), so the two grid
worlds of the project share one action meaning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lsswm.collect.toy_env import ACTION_MOVES as MOVES  # noop, up, down, left, right


def write_synthetic_dataset(
    root: str | Path,
    episodes: int = 4,
    steps: int = 40,
    image_size: int = 32,
    grid: int = 4,
    seed: int = 0,
    env_id: str = "synthetic/GridWalk-v0",
) -> Path:
    from lsswm.collect.episode_store import write_episode
    from lsswm.collect.manifest import Manifest, describe_state_spec

    root = Path(root)
    manifest = Manifest(env_id, "random", steps, seed, episodes)
    spec = {
        "agent_pos": ((2,), np.float64),
        "agent_dir": ((2,), np.float64),
        "maze_layout": ((grid, grid), np.uint8),
    }
    manifest.set_env_description(
        (image_size, image_size, 3),
        {"type": "discrete", "n": len(MOVES)},
        describe_state_spec(spec),
    )
    for index in range(episodes):
        arrays = _episode(np.random.default_rng([seed, index]), steps, image_size, grid)
        meta = {"seed": seed + index, "env_id": env_id, "policy": "random", "steps": steps}
        manifest.add(write_episode(root, index, arrays, meta))
    manifest.save(root)
    return root


def _episode(rng: np.random.Generator, steps: int, size: int, grid: int) -> dict[str, np.ndarray]:
    frames = np.zeros((steps + 1, size, size, 3), np.uint8)
    actions = np.zeros(steps + 1, np.int64)
    positions = np.zeros((steps + 1, 2), np.float64)
    directions = np.zeros((steps + 1, 2), np.float64)
    background = rng.integers(20, 120, size=3)
    cell = size // grid
    x, y = (int(v) for v in rng.integers(grid, size=2))
    heading = (1, 0)
    for t in range(steps + 1):
        if t > 0:
            actions[t] = rng.integers(len(MOVES))
            dx, dy = MOVES[actions[t]]
            if (dx, dy) != (0, 0):
                heading = (dx, dy)
            x, y = min(max(x + dx, 0), grid - 1), min(max(y + dy, 0), grid - 1)
        frames[t] = background
        frames[t, y * cell : (y + 1) * cell, x * cell : (x + 1) * cell] = (240, 200, 40)
        positions[t] = (x + 0.5, y + 0.5)
        directions[t] = heading
    rewards = (rng.random(steps + 1) < 0.05).astype(np.float32)
    rewards[0] = 0.0
    truncated = np.zeros(steps + 1, bool)
    truncated[-1] = True
    return {
        "frames": frames,
        "actions": actions,
        "rewards": rewards,
        "terminated": np.zeros(steps + 1, bool),
        "truncated": truncated,
        "state/agent_pos": positions,
        "state/agent_dir": directions,
        "state/maze_layout": np.ones((steps + 1, grid, grid), np.uint8),
    }
