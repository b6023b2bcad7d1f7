"""MineRL (Minecraft) Navigate as a Gymnasium environment with the TECO/paper action set.

``lsswm/MineRL-Navigate-v0`` wraps ``MineRLNavigateDense-v0`` and
``lsswm/MineRL-NavigateExtreme-v0`` wraps ``MineRLNavigateExtremeDense-v0`` (minerl 0.4.x, old
gym API: ``gym.make(id)``, ``obs = env.reset()``, ``obs, reward, done, info = env.step(action)``
with a dict action, ``env.seed(int)``;
with gym >= 0.26 the env is made through gym's compatibility layer and the adapter reads its
``(obs, info)`` resets and 5-tuple steps as well).

Actions, Discrete(4), as in TECO's Minecraft data (forward, left, right, jump), where left and
right are camera yaw turns rather than strafing:

====  ==========  ====================================================
 id   name        MineRL dict action (all other keys: the no-op value)
====  ==========  ====================================================
  0   forward     ``forward=1``
  1   turn_left   ``camera=[0, -turn_degrees]``
  2   turn_right  ``camera=[0, +turn_degrees]``
  3   jump        ``jump=1, forward=1`` (a standing jump does not move)
====  ==========  ====================================================

The observation is MineRL's ``pov`` image resized to ``resolution`` x ``resolution`` (uint8).
minerl cannot be installed on machines that only reach package registries (it needs a Java 8
JDK and downloads Minecraft at build time): making the env then raises
:class:`MissingDependencyError` explaining how to install it (docs/minerl.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from lsswm.envs.errors import EnvError, MissingDependencyError
from lsswm.envs.frame_env import FrameEnv
from lsswm.envs.legacy_gym import import_gym_quietly
from lsswm.envs.validation import discrete_action, seed_value

ACTION_NAMES = ("forward", "turn_left", "turn_right", "jump")

MINERL_STATE_SPEC: dict[str, tuple[tuple[int, ...], np.dtype]] = {
    "compass_angle": ((), np.dtype(np.float64)),
    "yaw": ((), np.dtype(np.float64)),
    "dirt": ((), np.dtype(np.int64)),
}

MINERL_INSTALL_HELP = (
    "the MineRL environments need the `minerl` package (0.4.x), which is not installed. "
    "It is not installed by default because its build needs a Java 8 JDK and network access to "
    "download Gradle, Minecraft Forge and the Minecraft assets (machines that reach only the "
    "package registries cannot build it; Debian 12 has no Java 8 package). To use it: install "
    "OpenJDK 8 (e.g. `sudo apt-get install openjdk-8-jdk`, or Temurin 8 on Debian 12), set "
    "JAVA_HOME to it, then run `pip install 'lsswm[minerl]'`; see docs/minerl.md. "
    "`lsswm/Crafter-v0` is a Minecraft-like environment that runs everywhere"
)

MineRLFactory = Callable[[str], Any]


def make_minerl_env(minerl_env_id: str) -> Any:
    """Create a real MineRL env (old gym API) or explain how to install minerl."""
    import_gym_quietly()
    try:
        import minerl  # noqa: F401  (importing minerl registers its env ids with gym)
    except ImportError as error:
        raise MissingDependencyError(f"{MINERL_INSTALL_HELP} (import error: {error})") from error
    import gym

    if _version_tuple(gym.__version__) >= (0, 26):
        # gym 0.26 expects the new step/reset API inside its TimeLimit wrapper; minerl 0.4 envs
        # speak the old one, so ask gym for its compatibility layer (5-tuple steps).
        return gym.make(minerl_env_id, apply_api_compatibility=True)
    return gym.make(minerl_env_id)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


class MineRLEnv(FrameEnv):
    """A MineRL env (old gym API) behind the Gymnasium API with Discrete(4) actions.

    Args:
        minerl_env_id: the MineRL id to wrap, e.g. "MineRLNavigateDense-v0".
        resolution: side of the square image observation (MineRL Navigate renders 64x64;
            TECO's Minecraft data is 128x128).
        turn_degrees: camera yaw change of one turn action.
        episode_steps: truncate episodes after this many steps (None: MineRL's own limit);
            the same option as the other lsswm envs (TECO's clips are 300 frames).
        render_mode: None or "rgb_array".
        minerl_env_factory: builds the wrapped env from ``minerl_env_id``; default
            :func:`make_minerl_env`. Tests pass a test double of the MineRL env API here.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        minerl_env_id: str = "MineRLNavigateDense-v0",
        *,
        resolution: int = 64,
        turn_degrees: float = 15.0,
        episode_steps: int | None = None,
        render_mode: str | None = None,
        minerl_env_factory: MineRLFactory | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise EnvError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        if resolution < 8:
            raise EnvError(f"resolution={resolution!r} must be at least 8 pixels")
        if not 0 < turn_degrees <= 180:
            raise EnvError(f"turn_degrees={turn_degrees!r} must be in (0, 180]")
        if episode_steps is not None and (not isinstance(episode_steps, int) or episode_steps < 1):
            raise EnvError(f"episode_steps={episode_steps!r} must be a positive integer or None")
        self.episode_steps = episode_steps
        self.minerl_env_id = minerl_env_id
        self.resolution = resolution
        self.turn_degrees = float(turn_degrees)
        self.render_mode = render_mode
        self.state_spec = dict(MINERL_STATE_SPEC)
        self.observation_space = spaces.Box(
            0, 255, shape=(resolution, resolution, 3), dtype=np.uint8
        )
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._minerl = (minerl_env_factory or make_minerl_env)(minerl_env_id)
        self._frame: np.ndarray | None = None
        self._yaw = 0.0
        self._steps = 0
        self._needs_reset = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``seed`` is passed to MineRL's ``env.seed`` (its world seed).

        Minecraft itself is not bit-reproducible, so the same seed gives the same world but not
        necessarily identical frames; the registered ids say ``nondeterministic=True``.
        """
        if seed is not None:
            seed = seed_value(seed, 2**63, "MineRL")
        super().reset(seed=seed)
        if seed is not None:
            self._minerl.seed(seed)  # minerl: must be called before reset()
        result = self._minerl.reset()
        # Old gym API: reset() -> obs (a dict); gym >= 0.26 compatibility layer: (obs, info).
        observation = result[0] if isinstance(result, tuple) else result
        self._yaw = 0.0
        self._steps = 0
        self._needs_reset = False
        return self._observe(observation)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._require_running()
        index = discrete_action(action, ACTION_NAMES, "MineRL")
        result = self._minerl.step(self._to_minerl_action(index))
        if len(result) == 5:  # gym >= 0.26 compatibility layer
            observation, reward, terminated, truncated, _ = result
        else:  # old gym API: old gym's TimeLimit marks a step-limit end in info; any other
            # `done` is the task ending (touching the goal block in Navigate).
            observation, reward, done, minerl_info = result
            truncated = bool(done and minerl_info.get("TimeLimit.truncated", False))
            terminated = bool(done and not truncated)
        self._steps += 1
        terminated = bool(terminated)
        truncated = not terminated and (
            bool(truncated)
            or (self.episode_steps is not None and self._steps >= self.episode_steps)
        )
        self._needs_reset = terminated or truncated
        frame, info = self._observe(observation)
        return frame, float(reward), terminated, truncated, info

    def close(self) -> None:
        self._minerl.close()
        super().close()

    def _to_minerl_action(self, index: int) -> dict[str, Any]:
        action = dict(self._minerl.action_space.noop())
        name = ACTION_NAMES[index]
        if name == "forward":
            action["forward"] = 1
        elif name in ("turn_left", "turn_right"):
            yaw = -self.turn_degrees if name == "turn_left" else self.turn_degrees
            action["camera"] = np.array([0.0, yaw], dtype=np.float32)  # [pitch, yaw] degrees
            self._yaw += yaw
        else:
            action["jump"] = 1
            action["forward"] = 1
        return action

    def _observe(self, observation: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        frame = _resize(np.asarray(observation["pov"], dtype=np.uint8), self.resolution)
        self._frame = frame
        compass = observation.get("compass", {})
        angle = compass.get("angle", observation.get("compassAngle", 0.0))
        dirt = observation.get("inventory", {}).get("dirt", 0)
        state = {
            "compass_angle": np.array(float(np.asarray(angle).reshape(-1)[0]), dtype=np.float64),
            "yaw": np.array(self._yaw, dtype=np.float64),
            "dirt": np.array(int(np.asarray(dirt).reshape(-1)[0]), dtype=np.int64),
        }
        return frame.copy(), {"state": state}


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` (H, W, 3) uint8 resized to (side, side, 3), bilinear; a copy either way."""
    if image.shape[:2] == (side, side):
        return image.copy()
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((side, side), Image.BILINEAR), dtype=np.uint8)
