"""A tiny deterministic grid world with image observations, for collect's tests and docs.

It follows the lsswm env contract (uint8 HxWx3 frames, ``info["state"]`` from reset and step,
``state_spec``, reproducible ``reset(seed=...)``) without MuJoCo, so collection machinery can
be tested in milliseconds. Importing this module registers:

* ``lsswm-toy/ToyGrid-v0``: instant steps;
* ``lsswm-toy/ToyGridSlow-v0``: sleeps 5 ms per step (a stand-in for a slow simulator).

Use it from the CLI as ``--env lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import gymnasium
import numpy as np

ACTION_MOVES = ((0, 0), (0, 1), (0, -1), (-1, 0), (1, 0))  # noop, up, down, left, right


class ToyGridEnv(gymnasium.Env):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        size: int = 8,
        image_size: int = 32,
        step_sleep: float = 0.0,
        render_mode: str | None = "rgb_array",
    ) -> None:
        self.size = size
        self.cell = image_size // size
        self.image_size = image_size
        self.step_sleep = step_sleep
        self.render_mode = render_mode
        self.action_space = gymnasium.spaces.Discrete(len(ACTION_MOVES))
        self.observation_space = gymnasium.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        self.state_spec = {
            "agent_pos": ((2,), np.dtype(np.int64)),
            "goal_pos": ((2,), np.dtype(np.int64)),
            "colour": ((3,), np.dtype(np.float64)),
        }
        self._rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._rng = np.random.default_rng(seed)
        self.agent = self._rng.integers(self.size, size=2)
        self.goal = self._rng.integers(self.size, size=2)
        self.colour = self._rng.uniform(0.2, 0.8, size=3)
        self.t = 0
        return self._frame(), {"state": self._state()}

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for {self.action_space}")
        if self.step_sleep:
            time.sleep(self.step_sleep)
        self.t += 1
        self.agent = np.clip(self.agent + ACTION_MOVES[int(action)], 0, self.size - 1)
        reward = 0.0
        if np.array_equal(self.agent, self.goal):
            reward = 1.0
            self.goal = self._rng.integers(self.size, size=2)
        return self._frame(), reward, False, False, {"state": self._state()}

    def render(self) -> np.ndarray:
        return self._frame()

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "agent_pos": self.agent.astype(np.int64),
            "goal_pos": self.goal.astype(np.int64),
            "colour": self.colour.copy(),
        }

    def _frame(self) -> np.ndarray:
        frame = np.empty((self.image_size, self.image_size, 3), np.uint8)
        frame[:] = (self.colour * 255).astype(np.uint8)
        frame[:, :, 2] = (self.t * 7) % 256  # time-varying channel: consecutive frames differ
        for pos, colour in ((self.goal, (0, 255, 0)), (self.agent, (255, 0, 0))):
            x, y = int(pos[0]) * self.cell, int(pos[1]) * self.cell
            frame[y : y + self.cell, x : x + self.cell] = colour
        return frame


def _register() -> None:
    registry = gymnasium.envs.registration.registry
    for env_id, kwargs in (
        ("lsswm-toy/ToyGrid-v0", {}),
        ("lsswm-toy/ToyGridSlow-v0", {"step_sleep": 0.005}),
    ):
        if env_id not in registry:
            gymnasium.register(env_id, entry_point=ToyGridEnv, kwargs=kwargs)


_register()
