"""Crafter (a 2-D Minecraft-like world that runs everywhere) with the Gymnasium API.

``lsswm/Crafter-v0``: observation a 64x64x3 uint8 image, Discrete(17) actions, the Gymnasium
5-tuple around crafter 1.8.3's old 4-tuple ``step``. ``info`` carries crafter's ``inventory``
and ``achievements`` dicts, ``player_pos``, and the contract ``info["state"]`` arrays.

Seeding: crafter derives every episode's world from ``(seed, episode number)``; ``reset(seed=s)``
starts a new crafter world stream for ``s`` (episode 1 of it), so the same ``s`` always gives
the same world, and ``reset()`` continues with the next world of the stream.

Speed: crafter's world generation calls opensimplex noise, which opensimplex compiles with
numba when numba is importable (cached on disk after the first run). With numba a reset takes
~0.05 s instead of ~0.8 s; :func:`worldgen_uses_numba` reports which one is active.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from lsswm.envs.errors import EnvError
from lsswm.envs.frame_env import FrameEnv
from lsswm.envs.legacy_gym import import_gym_quietly
from lsswm.envs.validation import discrete_action, seed_value

import_gym_quietly()  # crafter imports gym (for its optional old-gym spaces) at import time

import crafter  # noqa: E402
import crafter.constants  # noqa: E402

ACTION_NAMES: tuple[str, ...] = tuple(crafter.constants.actions)  # 17, crafter's order
INVENTORY_KEYS: tuple[str, ...] = tuple(crafter.constants.items)  # 16, crafter's order
ACHIEVEMENT_KEYS: tuple[str, ...] = tuple(sorted(crafter.constants.achievements))  # 22

CRAFTER_STATE_SPEC: dict[str, tuple[tuple[int, ...], np.dtype]] = {
    "inventory": ((len(INVENTORY_KEYS),), np.dtype(np.int64)),
    "achievements": ((len(ACHIEVEMENT_KEYS),), np.dtype(np.bool_)),
    "player_pos": ((2,), np.dtype(np.int64)),
}

_SEED_BOUND = 2**31 - 1  # crafter hashes (seed, episode) modulo 2**31 - 1


def worldgen_uses_numba() -> bool:
    """True if crafter's terrain noise (opensimplex) runs numba-compiled code."""
    import opensimplex.internals

    return type(opensimplex.internals._noise2).__module__.startswith("numba")


class _OrderedBalanceCrafter(crafter.Env):
    """crafter.Env whose creature (de)spawning does not depend on memory addresses.

    crafter 1.8.3 keeps each chunk's objects in a ``set`` and picks the creature to despawn by
    index into a list built from it, so the choice follows object ids (memory addresses): the
    same seed and actions gave episodes of 116, 150, 125 and 141 steps in one process. Sorting
    the chunk's objects by position (one object per cell) makes the pick a function of the
    world alone.
    """

    def _balance_object(self, chunk, objs, *args, **kwargs):  # type: ignore[no-untyped-def]
        ordered = sorted(objs, key=lambda obj: (int(obj.pos[0]), int(obj.pos[1])))
        return super()._balance_object(chunk, ordered, *args, **kwargs)


class CrafterEnv(FrameEnv):
    """Crafter with the Gymnasium API.

    Args:
        size: side of the square image observation in pixels (crafter renders at any size).
        episode_steps: crafter's ``length``: the episode is truncated after this many steps.
        render_mode: None or "rgb_array" (``render()`` returns the current frame).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self, size: int = 64, episode_steps: int = 10000, render_mode: str | None = None
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise EnvError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        if size < 9:
            raise EnvError(f"size={size!r} is too small; crafter needs at least 9 pixels")
        if episode_steps < 1:
            raise EnvError(f"episode_steps={episode_steps!r} must be a positive integer")
        self.size = size
        self.episode_steps = episode_steps
        self.render_mode = render_mode
        self.state_spec = dict(CRAFTER_STATE_SPEC)
        self.observation_space = spaces.Box(0, 255, shape=(size, size, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._crafter: crafter.Env | None = None
        self._frame: np.ndarray | None = None
        self._needs_reset = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            seed = seed_value(seed, _SEED_BOUND, "Crafter")
        super().reset(seed=seed)
        if seed is not None or self._crafter is None:
            world_seed = (
                int(seed) if seed is not None else int(self.np_random.integers(_SEED_BOUND))
            )
            # A new crafter.Env restarts the (seed, episode) stream; construction is ~0.04 s.
            self._crafter = _OrderedBalanceCrafter(
                size=(self.size, self.size), length=self.episode_steps, seed=world_seed
            )
        frame = self._crafter.reset()
        self._needs_reset = False
        self._frame = frame
        player = self._crafter._player  # crafter returns no info on reset; read the player
        info = self._info(dict(player.inventory), dict(player.achievements), player.pos)
        return frame.copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._require_running()
        index = discrete_action(action, ACTION_NAMES, "Crafter")
        frame, reward, done, crafter_info = self._crafter.step(index)
        self._frame = frame
        terminated = bool(done and crafter_info["discount"] == 0.0)  # the player died
        truncated = bool(done and not terminated)  # the step limit
        self._needs_reset = done
        info = self._info(
            crafter_info["inventory"], crafter_info["achievements"], crafter_info["player_pos"]
        )
        info["discount"] = float(crafter_info["discount"])
        return frame.copy(), float(reward), terminated, truncated, info

    @property
    def game(self) -> crafter.Env:
        """The underlying crafter game (world, player), for scripted policies and tools."""
        if self._crafter is None:
            raise EnvError("the Crafter game exists only after reset(); call env.reset() first")
        return self._crafter

    @staticmethod
    def _info(
        inventory: dict[str, int], achievements: dict[str, int], player_pos: Any
    ) -> dict[str, Any]:
        position = np.array(player_pos, dtype=np.int64)
        return {
            "inventory": dict(inventory),
            "achievements": dict(achievements),
            "player_pos": position.copy(),
            "state": {
                "inventory": np.array([inventory[k] for k in INVENTORY_KEYS], dtype=np.int64),
                "achievements": np.array(
                    [achievements[k] > 0 for k in ACHIEVEMENT_KEYS], dtype=np.bool_
                ),
                "player_pos": position,
            },
        }
