"""Errors of the agents package that the `lsswm` dispatcher prints as one line.

Classes carry ``user_facing = True``: ``lsswm`` prints them as ``lsswm: error: <message>``;
every message names the problem and the fix.
"""

from __future__ import annotations


class AgentError(ValueError):
    """Bad agent input: unknown agent name, bad planner options, a model that cannot drive
    this environment, contexts that do not fit the model."""

    user_facing = True
