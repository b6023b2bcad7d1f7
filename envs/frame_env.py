"""What every lsswm image env shares: `render()` of the current frame and the reset guard."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from lsswm.envs.errors import EnvError


class FrameEnv(gym.Env):
    """Base of the lsswm envs. Subclasses set ``self._frame`` to each new observation image
    and ``self._needs_reset`` when an episode ends, and call :meth:`_require_running` first
    thing in ``step``."""

    _frame: np.ndarray | None = None
    _needs_reset: bool = True

    def _require_running(self) -> None:
        if self._needs_reset:
            raise EnvError(
                "step() called before reset() or after the episode ended; call env.reset() first"
            )

    def render(self) -> np.ndarray | None:
        """The current frame (uint8 HxWx3), as in the last observation."""
        if self.render_mode is None:
            return None
        if self._frame is None:
            raise EnvError("render() called before reset(); call env.reset() first")
        return self._frame.copy()
