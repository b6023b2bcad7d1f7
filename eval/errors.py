"""Errors of the eval package that the `lsswm` dispatcher prints as one line.

The dispatcher prints any exception whose class has ``user_facing = True`` as
``lsswm: error: <message>``; every message names the problem and the fix.
"""

from __future__ import annotations


class EvalError(ValueError):
    """Bad evaluation input: a checkpoint, dataset or option that cannot be evaluated."""

    user_facing = True


class MetricUnavailable(RuntimeError):
    """An optional metric (LPIPS, FVD) whose weights are not on this machine."""

    user_facing = True
