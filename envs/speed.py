"""Assumed stepping speed of each environment, for the time estimates commands print.

Pure data (no simulator import). Seconds per step of one process on the project's 2-core
CPU with other jobs running, policy and recording included, rounded up:

- Memory Maze 9x9: 0.02 s (50 steps/s). docs/envs.md: 93-124 steps/s of stepping alone
  on a quiet machine, 43 under load; docs/collect.md: one collector worker 47 steps/s
  including start-up and a maze build per 300-step episode. Larger mazes scale as the
  measured 9x9 -> 15x15 ratio (124 -> 77 steps/s).
- Crafter: 0.005 s (200 steps/s; 886 quiet, 126-331 under load).
- MineRL: 0.05 s, not measured here (no Java in this project's CI).
- anything else: the 9x9 maze's rate.

A reset (a new maze: layout, textures) costs about 1 s (docs/results.md).
"""

from __future__ import annotations

DEFAULT_STEP_SECONDS = 0.02
RESET_SECONDS = 1.0
WORKER_START_SECONDS = 4.0  # a collector worker process: start-up, imports, first env

_STEP_SECONDS = {
    "lsswm/MemoryMaze-9x9": 0.02,
    "lsswm/MemoryMaze-11x11": 0.024,
    "lsswm/MemoryMaze-13x13": 0.028,
    "lsswm/MemoryMaze-15x15": 0.032,
    "lsswm/Crafter": 0.005,
    "lsswm/MineRL": 0.05,
}


def assumed_step_seconds(env_id: str) -> float:
    """Seconds per env step of ``env_id`` assumed for estimates (module docstring)."""
    for prefix, seconds in _STEP_SECONDS.items():
        if env_id.startswith(prefix):
            return seconds
    return DEFAULT_STEP_SECONDS
