"""Run an agent in the real environment and score its episodes.

Scores by environment (from the recorded episode, collect's per-frame arrays):

* Memory Maze: targets reached = the sum of rewards (each target reached gives +1).
* Crafter: achievements unlocked in the episode (``info["state"]["achievements"]`` at the
  last frame; crafter's reward also counts health changes, so the return is kept beside).
* anything else: the return.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCORE_NAMES = {
    "memory_maze": "targets reached",
    "crafter": "achievements unlocked",
    "generic": "return",
}


def env_kind(env: Any) -> str:
    """``memory_maze``, ``crafter`` or ``generic`` from the env's state spec (contract 1)."""
    spec = getattr(getattr(env, "unwrapped", env), "state_spec", None) or {}
    if "maze_layout" in spec and "target_pos" in spec:
        return "memory_maze"
    if "achievements" in spec:
        return "crafter"
    return "generic"


@dataclass
class EpisodeOutcome:
    seed: int
    steps: int
    episode_return: float
    score: float
    seconds: float
    achievements: list[str] | None = None  # Crafter: names of the unlocked achievements
    agent_info: dict[str, Any] = field(default_factory=dict)
    frames: np.ndarray | None = None  # (T+1, H, W, 3) when kept (for a video)


def make_real_env(env_id: str, max_steps: int) -> Any:
    """The env, with its own episode length set to ``max_steps`` where it has that option
    (lsswm Memory Maze and Crafter), so the agent sees the episode end where we stop."""
    from lsswm.collect.rollout import make_env

    try:
        return make_env(env_id, episode_steps=max_steps)
    except TypeError:  # an env without an episode_steps option: the step cap still applies
        return make_env(env_id)


def run_episode(
    env: Any,
    agent: Any,
    seed: int,
    max_steps: int,
    *,
    keep_frames: bool = False,
    on_step: Callable[[], None] | None = None,
) -> EpisodeOutcome:
    """One episode of ``agent`` (collect's Policy protocol) from ``env.reset(seed=seed)``."""
    from lsswm.collect.rollout import rollout_episode

    start = time.perf_counter()
    episode = rollout_episode(env, agent, seed, max_steps, on_step=on_step)
    seconds = time.perf_counter() - start
    arrays = episode.arrays
    episode_return = float(np.sum(arrays["rewards"], dtype=np.float64))
    kind = env_kind(env)
    score, achievements = episode_return, None
    if kind == "crafter":
        from lsswm.envs.crafter_env import ACHIEVEMENT_KEYS

        unlocked = np.asarray(arrays["state/achievements"][-1], dtype=bool)
        achievements = [name for name, got in zip(ACHIEVEMENT_KEYS, unlocked, strict=True) if got]
        score = float(len(achievements))
    return EpisodeOutcome(
        seed=int(seed),
        steps=len(arrays["frames"]) - 1,
        episode_return=episode_return,
        score=score,
        seconds=seconds,
        achievements=achievements,
        agent_info=dict(episode.meta.get("policy_info") or {}),
        frames=np.array(arrays["frames"]) if keep_frames else None,
    )
