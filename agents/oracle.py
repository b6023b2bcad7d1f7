"""The Memory Maze oracle: shortest paths to the current target from the true maze state.

An upper reference for navigation, not an agent that could run from pixels: it reads
``info["state"]`` (maze layout, agent pose, current target). The path planning and steering
are envs.maze_oracle's (BFS over the layout, turn toward the next cell centre).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lsswm.agents.errors import AgentError
from lsswm.envs.maze_oracle import action_towards

REQUIRED_STATE = ("maze_layout", "agent_pos", "agent_dir", "target_pos")


class MazeOracle:
    """collect's Policy protocol: ``reset(seed, obs, info)``, ``act(obs, info)``."""

    def __init__(self, env: Any) -> None:
        if getattr(env.action_space, "n", None) != 6:
            raise AgentError(
                f"the oracle drives Memory Maze's 6 discrete actions; this env's action space "
                f"is {env.action_space} (use a discrete-action Memory Maze id)"
            )

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        self._check(info)

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        return action_towards(self._check(info), info["state"]["target_pos"])

    def episode_info(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def _check(info: Mapping[str, Any]) -> Mapping[str, Any]:
        state = info.get("state") or {}
        missing = [key for key in REQUIRED_STATE if key not in state]
        if missing:
            raise AgentError(
                f"the oracle needs info['state'] with {list(REQUIRED_STATE)} (missing "
                f"{missing}); it only drives Memory Maze (lsswm/MemoryMaze-*)"
            )
        return state
