"""Memory Maze as a Gymnasium environment, wrapping memory_maze's dm_env tasks directly.

Registered ids: ``lsswm/MemoryMaze-{9x9,11x11,13x13,15x15}-v0`` (observation: the 64x64x3 uint8
first-person image) and ``lsswm/MemoryMaze-{...}-ExtraObs-v0`` (a Dict observation: the image
plus the state arrays below). Both put ``info["state"]`` on every reset and step. See
docs/envs.md for units, coordinate frames, seeding and the fast-contacts patch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from lsswm.envs.errors import EnvError, InvalidActionError
from lsswm.envs.frame_env import FrameEnv
from lsswm.envs.rendering import configure_headless_gl
from lsswm.envs.validation import discrete_action, seed_value

# MUJOCO_GL is read once when mujoco/dm_control are imported: choose it before they are.
configure_headless_gl()

from lsswm.envs.maze_tasks import (  # noqa: E402  (imports mujoco, dm_control, memory_maze)
    CONTROL_FREQUENCY_HZ,
    MAZE_SIZES,
    SeededMazeTask,
)

IMAGE_SHAPE = (64, 64, 3)

DISCRETE_ACTION_NAMES = ("noop", "forward", "left", "right", "forward_left", "forward_right")
# What each discrete action sends to the rolling ball, as continuous [roll, steer] (memory_maze's
# DiscreteActionSetWrapper table): e.g. to condition a model on continuous actions.
DISCRETE_ACTION_VECTORS = np.array(
    [[0.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 1.0], [-1.0, -1.0], [-1.0, 1.0]]
)

_SEED_BOUND = 2**32  # memory_maze seeds numpy's RandomState, which takes [0, 2**32)


def memory_maze_state_spec(size: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shapes and dtypes of ``info["state"]`` for an S x S maze with K targets."""
    k = MAZE_SIZES[size].n_targets
    f64, u8, i64 = np.dtype(np.float64), np.dtype(np.uint8), np.dtype(np.int64)
    return {
        "agent_pos": ((2,), f64),
        "agent_dir": ((2,), f64),
        "target_color": ((3,), f64),
        "target_pos": ((2,), f64),
        "targets_pos": ((k, 2), f64),
        "maze_layout": ((size, size), u8),
        "target_index": ((), i64),
    }


class MemoryMazeEnv(FrameEnv):
    """One Memory Maze task (size 9, 11, 13 or 15) with the Gymnasium API.

    Args:
        maze_size: 9, 11, 13 or 15.
        extra_obs: observation is a Dict ``{"image", <state keys>}`` instead of the image alone.
        continuous_actions: Box(-1, 1, (2,)) actions ``[roll, steer]`` (memory_maze's own
            continuous control: roll -1 is full speed forward, steer -1 turns left) instead of
            Discrete(6).
        fast_contacts: use the vectorised target-contact check (identical results, ~3x faster
            steps); False runs dm_control's stock Python loop.
        top_camera: also render a top-down view of the whole maze into ``info["top_camera"]``
            on every reset and step (uint8, ``top_camera_size`` square).
        top_camera_size: side of the top-down view in pixels.
        episode_steps: episode length in control steps (truncation); None = memory_maze's own
            limit (1000/2000/3000/4000 for 9x9/11x11/13x13/15x15). Longer is allowed.
        render_mode: None or "rgb_array" (``render()`` returns the current 64x64 frame).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": int(CONTROL_FREQUENCY_HZ),
    }

    def __init__(
        self,
        maze_size: int = 9,
        *,
        extra_obs: bool = False,
        continuous_actions: bool = False,
        fast_contacts: bool = True,
        top_camera: bool = False,
        top_camera_size: int = 256,
        episode_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if maze_size not in MAZE_SIZES:
            raise EnvError(
                f"maze_size={maze_size!r} is not a Memory Maze size; use one of "
                f"{sorted(MAZE_SIZES)}"
            )
        if render_mode not in (None, "rgb_array"):
            raise EnvError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        if episode_steps is not None and (not isinstance(episode_steps, int) or episode_steps < 1):
            raise EnvError(f"episode_steps={episode_steps!r} must be a positive integer or None")
        if top_camera_size < 16:
            raise EnvError(f"top_camera_size={top_camera_size!r} must be at least 16 pixels")

        self.maze_size = maze_size
        self.n_targets = MAZE_SIZES[maze_size].n_targets
        self.native_episode_steps = MAZE_SIZES[maze_size].episode_steps
        self.episode_steps = episode_steps or self.native_episode_steps
        self.extra_obs = extra_obs
        self.continuous_actions = continuous_actions
        self.fast_contacts = fast_contacts
        self.top_camera = top_camera
        self.top_camera_size = top_camera_size
        self.render_mode = render_mode
        self.state_spec = memory_maze_state_spec(maze_size)

        self.observation_space = self._make_observation_space()
        if continuous_actions:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        else:
            self.action_space = spaces.Discrete(len(DISCRETE_ACTION_NAMES))

        self._task = SeededMazeTask(
            maze_size,
            continuous_actions=continuous_actions,
            fast_contacts=fast_contacts,
            episode_steps=self.episode_steps,
        )
        self._frame: np.ndarray | None = None
        self._steps = 0
        self._needs_reset = True

    # ---- spaces -------------------------------------------------------------------------

    def _make_observation_space(self) -> spaces.Space:
        image = spaces.Box(0, 255, shape=IMAGE_SHAPE, dtype=np.uint8)
        if not self.extra_obs:
            return image
        s, k = float(self.maze_size), self.n_targets
        return spaces.Dict(
            {
                "image": image,
                "agent_pos": spaces.Box(0.0, s, shape=(2,), dtype=np.float64),
                "agent_dir": spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float64),
                "target_color": spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float64),
                "target_pos": spaces.Box(0.0, s, shape=(2,), dtype=np.float64),
                "targets_pos": spaces.Box(0.0, s, shape=(k, 2), dtype=np.float64),
                "maze_layout": spaces.Box(0, 1, shape=(self.maze_size,) * 2, dtype=np.uint8),
                # A scalar space: SB3 accepts Discrete scalars but not 0-d Boxes.
                "target_index": spaces.Discrete(k),
            }
        )

    # ---- Gymnasium API ------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode.

        ``reset(seed=s)`` always gives the same maze and episode for the same ``s`` (episode 0 of
        seed ``s``), whatever ran before. ``reset()`` continues with the next episode of the last
        seed's stream (deterministic too); the very first unseeded reset draws a seed.
        """
        if seed is not None:
            seed = seed_value(seed, _SEED_BOUND, "Memory Maze")
        super().reset(seed=seed)
        if seed is not None:
            self._task.start_seed(seed)
        elif self._task.dm_env is None:
            self._task.start_seed(int(self.np_random.integers(_SEED_BOUND)))
        timestep = self._task.reset()
        self._steps = 0
        self._needs_reset = False
        return self._observe(timestep.observation)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self._require_running()
        timestep = self._task.dm_env.step(self._to_dm_action(action))
        self._steps += 1
        observation, info = self._observe(timestep.observation)
        # memory_maze never terminates an episode itself (no contact termination); a LAST step
        # before our limit with discount 0 means dm_control hit a physics error.
        terminated = bool(timestep.last() and timestep.discount == 0.0)
        truncated = not terminated and (self._steps >= self.episode_steps or timestep.last())
        self._needs_reset = terminated or truncated
        return observation, float(timestep.reward or 0.0), terminated, truncated, info

    def close(self) -> None:
        self._task.close()
        super().close()

    # ---- extras ---------------------------------------------------------------------------

    @property
    def seed_in_use(self) -> int | None:
        """The seed whose episode stream is playing (the last explicit seed, or a drawn one)."""
        return self._task.seed

    @property
    def task_builds(self) -> int:
        """How many times the dm_env task was built (each costs ~1-2 s)."""
        return self._task.builds

    def render_top_view(self, size: int | None = None) -> np.ndarray:
        """A top-down view of the whole maze (uint8 ``size`` x ``size`` x 3) at the current time.

        The image is north-up: +y of the maze (layout row S-1) at the top, +x to the right.
        """
        if self._task.dm_env is None:
            raise EnvError("render_top_view() called before reset(); call env.reset() first")
        size = size or self.top_camera_size
        physics = self._task.dm_env.physics
        return physics.render(height=size, width=size, camera_id="top_camera").copy()

    # ---- conversions ------------------------------------------------------------------------

    def _to_dm_action(self, action: Any) -> Any:
        if self.continuous_actions:
            array = np.asarray(action, dtype=np.float64)
            if array.shape != (2,) or not np.all(np.isfinite(array)) or np.any(np.abs(array) > 1):
                raise InvalidActionError(
                    f"invalid action {action!r}: continuous Memory Maze actions are 2 finite "
                    "numbers [roll, steer] in [-1, 1] (roll -1 = forward, steer -1 = left)"
                )
            return array
        return discrete_action(
            action,
            DISCRETE_ACTION_NAMES,
            "Memory Maze",
            hint="; make the env with continuous_actions=True to send [roll, steer] vectors",
        )

    def _observe(self, dm_obs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        image = np.array(dm_obs["image"], dtype=np.uint8)  # copy: dm_control reuses buffers
        self._frame = image
        state = self._state_from(dm_obs)
        info: dict[str, Any] = {"state": state}
        if self.top_camera:
            info["top_camera"] = self.render_top_view()
        if not self.extra_obs:
            return image.copy(), info
        observation: dict[str, Any] = {"image": image.copy()}
        observation.update({key: value.copy() for key, value in state.items()})
        observation["target_index"] = np.int64(state["target_index"])  # Discrete: a scalar
        return observation, info

    def _state_from(self, dm_obs: dict[str, Any]) -> dict[str, np.ndarray]:
        targets_pos = np.array(dm_obs["targets_pos"], dtype=np.float64)
        target_pos = np.array(dm_obs["target_pos"], dtype=np.float64)
        # memory_maze exposes the current target's position (a row of targets_pos) but drops its
        # index when remapping observations; the row is an exact copy, so match it.
        matches = np.flatnonzero(np.all(targets_pos == target_pos, axis=1))
        return {
            "agent_pos": np.array(dm_obs["agent_pos"], dtype=np.float64),
            "agent_dir": np.array(dm_obs["agent_dir"], dtype=np.float64),
            "target_color": np.array(dm_obs["target_color"], dtype=np.float64),
            "target_pos": target_pos,
            "targets_pos": targets_pos,
            "maze_layout": np.array(dm_obs["maze_layout"], dtype=np.uint8),
            "target_index": np.array(matches[0] if matches.size else -1, dtype=np.int64),
        }
