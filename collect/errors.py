"""Errors of the collect package that the `lsswm` dispatcher prints as one line.

The dispatcher prints any exception whose class has ``user_facing = True`` as
``lsswm: error: <message>``; every message names the problem and the fix.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset on disk is missing, malformed, corrupt or does not match the request."""

    user_facing = True


class PolicyError(ValueError):
    """An unknown policy name, bad policy options, or a policy that cannot drive this env."""

    user_facing = True


class MissingExtraError(ImportError):
    """An optional dependency (ray, minari) is not installed."""

    user_facing = True
