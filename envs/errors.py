"""Errors the environments raise for bad input or a missing system piece.

Each class carries ``user_facing = True``: the ``lsswm`` dispatcher prints such errors as one
line (``lsswm: error: ...``). Every message names the problem and the fix.
"""

from __future__ import annotations


class EnvError(ValueError):
    """Bad input to an lsswm environment (unknown id, invalid action, bad seed, bad option)."""

    user_facing = True


class UnknownEnvError(EnvError, KeyError):
    """An environment id that is not registered."""

    def __str__(self) -> str:
        # KeyError would wrap the message in quotes; keep it readable.
        return str(self.args[0]) if self.args else ""


class InvalidActionError(EnvError):
    """An action outside the environment's action space."""


class MissingDependencyError(ImportError):
    """An optional package (e.g. minerl) that an environment needs is not installed."""

    user_facing = True


class HeadlessGLError(RuntimeError):
    """No headless OpenGL backend (EGL or OSMesa) works on this machine."""

    user_facing = True
