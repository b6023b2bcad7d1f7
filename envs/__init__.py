"""lsswm.envs: Gymnasium environments (Memory Maze, Crafter, MineRL adapter).

Importing this package only registers the ids with Gymnasium (entry points are strings), so it
imports no simulator. ``make(env_id, **kwargs)`` wraps ``gymnasium.make``; ``list_envs()`` lists
the ids. See docs/envs.md.
"""

from lsswm.envs.errors import (
    EnvError,
    HeadlessGLError,
    InvalidActionError,
    MissingDependencyError,
    UnknownEnvError,
)
from lsswm.envs.registration import list_envs, make, register_all

register_all()

__all__ = [
    "EnvError",
    "HeadlessGLError",
    "InvalidActionError",
    "MissingDependencyError",
    "UnknownEnvError",
    "list_envs",
    "make",
]
