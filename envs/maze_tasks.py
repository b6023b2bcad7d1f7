"""Build Memory Maze dm_env tasks and replay a seed's episode stream exactly.

How memory_maze randomises (memory-maze 1.0.3, read from its source): ``memory_maze_9x9(seed=s)``
makes ``rng = RandomState(s)``, draws one integer from it to seed labmaze's C++ maze generator,
and hands ``rng`` to the composer environment. Every ``reset()`` then generates a NEW maze layout
(labmaze's generator advances), re-textures the walls, places targets and the agent with
``rng``, and recompiles the MuJoCo model. So a task built with seed ``s`` yields a fixed stream
of episodes: episode 0, 1, 2, ... of seed ``s``. Building a task costs ~1.2-2 s (model compile
plus a new OpenGL context); each reset ~1.3 s (model recompile).

:class:`SeededMazeTask` keeps one built task and makes "episode 0 of seed s" available:
- a new seed builds a new task (the old one is closed);
- the same seed again, after episodes were played, rewinds the task instead of rebuilding it:
  the composer random state is restored to its post-build value and labmaze's generator is
  replaced by a fresh one with the same seed. The rewind is only enabled after a self-check at
  build time shows that the fresh generator reproduces the task's own first maze; otherwise
  (e.g. another memory_maze version) the task is rebuilt, which is always exact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lsswm.envs.rendering import configure_headless_gl

# Must run before mujoco/dm_control/memory_maze are imported anywhere in this process.
configure_headless_gl()

from lsswm.envs.legacy_gym import import_gym_quietly  # noqa: E402

import_gym_quietly()

import memory_maze.tasks as mm_tasks  # noqa: E402
from dm_control import composer  # noqa: E402

from lsswm.envs.fast_contacts import install_fast_contacts  # noqa: E402


class _DropNoFreeJointWarning(logging.Filter):
    """dm_control warns on every Memory Maze reset that the rolling-ball walker has no free
    joint to set a velocity on; the walker is meant to have none, so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Cannot set velocity on Entity with no free joint" not in record.getMessage()


logging.getLogger("absl").addFilter(_DropNoFreeJointWarning())

# memory_maze seeds labmaze with RandomState(seed).randint(2**31): see tasks._memory_maze.
_LABMAZE_SEED_BOUND = 2147483648


@dataclass(frozen=True)
class MazeSize:
    """The fixed facts of one Memory Maze size (memory-maze 1.0.3)."""

    size: int  # inner maze size S: the layout is S x S cells
    n_targets: int  # K
    episode_steps: int  # native time limit in control steps (4 Hz)
    build: Callable[..., Any]  # memory_maze.tasks.memory_maze_SxS


MAZE_SIZES: dict[int, MazeSize] = {
    9: MazeSize(9, 3, 1000, mm_tasks.memory_maze_9x9),
    11: MazeSize(11, 4, 2000, mm_tasks.memory_maze_11x11),
    13: MazeSize(13, 5, 3000, mm_tasks.memory_maze_13x13),
    15: MazeSize(15, 6, 4000, mm_tasks.memory_maze_15x15),
}

CONTROL_FREQUENCY_HZ = 4.0  # memory_maze.tasks.DEFAULT_CONTROL_FREQ


def build_maze_task(
    size: int, seed: int, *, continuous_actions: bool, fast_contacts: bool, episode_steps: int
) -> Any:
    """Build the memory_maze dm_env task (with global observables) for one seed.

    ``episode_steps`` beyond the native limit lifts the composer time limit, so the caller's
    own step counter decides when an episode ends.
    """
    spec = MAZE_SIZES[size]
    dm_env = spec.build(seed=seed, global_observables=True, discrete_actions=not continuous_actions)
    if fast_contacts:
        install_fast_contacts(dm_env.task.root_entity)
    if episode_steps > spec.episode_steps:
        # memory_maze fixes the time limit when it builds the composer environment and offers no
        # option; without lifting it the composer env would end (and auto-reset) the episode.
        _composer_env(dm_env)._time_limit = float("inf")
    return dm_env


def _composer_env(dm_env: Any) -> composer.Environment:
    env = dm_env
    while not isinstance(env, composer.Environment):
        env = env.env  # memory_maze's dm_env wrappers keep the wrapped env in `.env`
    return env


class _Rewinder:
    """Restores a built task's random streams to their post-build state (see module doc)."""

    def __init__(self, dm_env: Any, seed: int) -> None:
        self._random_state = dm_env.random_state
        self._post_build_state = self._random_state.get_state()
        self._arena = dm_env.task.root_entity
        self._labmaze_seed = int(np.random.RandomState(seed).randint(_LABMAZE_SEED_BOUND))
        # Self-check: a fresh generator must reproduce the maze the task's generator made at
        # construction; only then is swapping generators equivalent to a rebuild.
        built = self._arena.maze
        fresh = self._fresh_generator()
        self.enabled = str(fresh.entity_layer) == str(built.entity_layer) and str(
            fresh.variations_layer
        ) == str(built.variations_layer)

    def _fresh_generator(self) -> Any:
        old = self._arena.maze
        return type(old)(
            height=old.height,
            width=old.width,
            max_rooms=old.max_rooms,
            room_min_size=old.room_min_size,
            room_max_size=old.room_max_size,
            max_variations=old.max_variations,
            spawns_per_room=old.spawns_per_room,
            spawn_token=old.spawn_token,
            objects_per_room=old.objects_per_room,
            object_token=old.object_token,
            simplify=True,  # memory_maze's MazeWithTargetsArena default
            random_seed=self._labmaze_seed,
        )

    def rewind(self) -> None:
        self._random_state.set_state(self._post_build_state)
        # The arena reads its generator from `_maze` on every episode (MazeWithTargets keeps no
        # other reference); there is no public setter.
        self._arena._maze = self._fresh_generator()


class SeededMazeTask:
    """Owns the current dm_env task and positions it at "episode 0 of seed s" on request."""

    def __init__(
        self, size: int, *, continuous_actions: bool, fast_contacts: bool, episode_steps: int
    ) -> None:
        self._size = size
        self._options = dict(
            continuous_actions=continuous_actions,
            fast_contacts=fast_contacts,
            episode_steps=episode_steps,
        )
        self.dm_env: Any = None
        self.seed: int | None = None
        self._fresh = False  # True while the built task has not been reset yet
        self._rewinder: _Rewinder | None = None
        self.builds = 0  # counters, for tests and benchmarks
        self.rewinds = 0

    def start_seed(self, seed: int) -> None:
        """Make the next ``dm_env.reset()`` return episode 0 of ``seed``."""
        if self.dm_env is not None and seed == self.seed:
            if self._fresh:
                return
            if self._rewinder is not None and self._rewinder.enabled:
                self._rewinder.rewind()
                self.rewinds += 1
                return
        self._build(seed)

    def reset(self) -> Any:
        """Reset the dm_env task: the next episode of the current seed's stream."""
        self._fresh = False
        return self.dm_env.reset()

    def _build(self, seed: int) -> None:
        self.close()
        self.dm_env = build_maze_task(self._size, seed, **self._options)
        self.seed = seed
        self._fresh = True
        self._rewinder = _Rewinder(self.dm_env, seed)
        self.builds += 1

    def close(self) -> None:
        if self.dm_env is not None:
            self.dm_env.close()  # frees the physics and its OpenGL context
            self.dm_env = None
            self._rewinder = None
