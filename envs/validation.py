"""Checks of user input shared by the environments: discrete actions and seeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lsswm.envs.errors import EnvError, InvalidActionError


def discrete_action(action: Any, names: Sequence[str], env_name: str, hint: str = "") -> int:
    """The action index in ``action`` (int, numpy integer, or 1-element integer array).

    Raises :class:`InvalidActionError` listing the valid actions otherwise.
    """
    index: int | None = None
    if isinstance(action, bool):
        index = None  # True/False are ints to Python, never actions
    elif isinstance(action, int | np.integer):
        index = int(action)
    elif (
        isinstance(action, np.ndarray)
        and action.size == 1
        and np.issubdtype(action.dtype, np.integer)
    ):
        index = int(action.reshape(()))
    if index is None or not 0 <= index < len(names):
        listing = ", ".join(f"{i} {name}" for i, name in enumerate(names))
        raise InvalidActionError(
            f"invalid action {action!r}: {env_name} actions are integers 0-{len(names) - 1} "
            f"({listing}){hint}"
        )
    return index


def seed_value(seed: Any, bound: int, env_name: str) -> int:
    """``seed`` as an int in ``[0, bound)``; raises :class:`EnvError` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < bound:
        raise EnvError(
            f"seed={seed!r} is not usable: {env_name} seeds are integers in [0, {bound})"
        )
    return int(seed)
