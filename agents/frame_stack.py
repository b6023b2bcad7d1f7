"""The last K frames as one observation, in imagination and in the real env alike.

A policy of one frame cannot tell standing still from moving: pushing into a wall and running
down a corridor can show the same picture. Stacking the last K frames (as DQN does on Atari)
lets it see its own motion. Training wraps the imagination VecEnv in SB3's ``VecFrameStack``;
in the real env :class:`FrameStackAgent` stacks with SB3's own ``StackedObservations``, the
class ``VecFrameStack`` uses, so both worlds build the observation the same way (zeros before
the first frame of an episode, the newest frame last, along the channel axis).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

RGB_CHANNELS = 3


def stacked_frame_count(frame_shape: tuple[int, ...]) -> int:
    """How many RGB frames a channels-last observation of ``frame_shape`` stacks: 1 for one
    frame or anything that is not a stack of RGB frames."""
    channels = frame_shape[-1] if len(frame_shape) == 3 else 0
    return (
        channels // RGB_CHANNELS if channels > RGB_CHANNELS and not channels % RGB_CHANNELS else 1
    )


class FrameStackAgent:
    """Gives ``inner`` (a collect policy) the last ``count`` frames stacked on the channel axis."""

    def __init__(self, inner: Any, count: int, frame_shape: tuple[int, int, int]) -> None:
        from lsswm.envs.legacy_gym import import_gym_quietly

        import_gym_quietly()  # stable_baselines3 imports the old gym package (and its banner)
        from stable_baselines3.common.vec_env.stacked_observations import StackedObservations

        space = gymnasium.spaces.Box(0, 255, shape=frame_shape, dtype=np.uint8)
        self.inner = inner
        self.stack = StackedObservations(1, count, space, channels_order="last")
        self._first: np.ndarray | None = None

    def reset(self, seed: int, obs: Any, info: Any) -> None:
        # Episodes call act() first with the very frame reset() had: that frame goes on the
        # stack once, as VecFrameStack puts it once.
        self._first = self.stack.reset(np.asarray(obs)[None])[0]
        self.inner.reset(seed, self._first, info)

    def act(self, obs: Any, info: Any) -> Any:
        if self._first is not None:
            stacked, self._first = self._first, None
        else:
            stacked = self.stack.update(np.asarray(obs)[None], np.array([False]), [{}])[0][0]
        return self.inner.act(stacked, info)

    def episode_info(self) -> dict[str, Any]:
        return self.inner.episode_info()
