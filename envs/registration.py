"""Register the lsswm ids with Gymnasium, and make them with a helpful unknown-id error."""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium

from lsswm.envs.catalog import ENVIRONMENTS
from lsswm.envs.errors import UnknownEnvError


def register_all() -> None:
    """Register every catalog entry with Gymnasium (idempotent; entry points stay strings)."""
    for entry in ENVIRONMENTS:
        if entry.env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=entry.env_id,
            entry_point=entry.entry_point,
            kwargs=dict(entry.kwargs),
            nondeterministic=entry.nondeterministic,
        )


def list_envs() -> list[str]:
    """The registered lsswm environment ids."""
    return [entry.env_id for entry in ENVIRONMENTS]


def make(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """``gymnasium.make(env_id, **kwargs)``; an unknown id raises :class:`UnknownEnvError`.

    The error lists the lsswm ids (and the closest match when the id looks like a typo).
    """
    if env_id not in gymnasium.registry:
        known = list_envs()
        close = difflib.get_close_matches(
            env_id, known, n=1, cutoff=0.6
        ) or difflib.get_close_matches(f"lsswm/{env_id}", known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownEnvError(
            f"unknown environment id {env_id!r}; {hint}registered lsswm environments: "
            + ", ".join(known)
            + " (run `lsswm envs` for details)"
        )
    return gymnasium.make(env_id, **kwargs)
