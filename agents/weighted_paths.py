"""Comma-separated checkpoint paths with one weight each, as several commands take them.

paths, weights = weighted_paths("a.safetensors,b.safetensors", "1,4", "--critic")
# (["a.safetensors", "b.safetensors"], [1.0, 4.0]); empty weights: 1 each
"""

from __future__ import annotations

from lsswm.agents.errors import AgentError


def split_paths(text: str) -> list[str]:
    """The non-empty paths of a comma-separated list."""
    return [path.strip() for path in text.split(",") if path.strip()]


def weighted_paths(paths: str, weights: str, flag: str) -> tuple[list[str], list[float]]:
    """The paths of ``paths`` and one weight per path from ``weights`` (all 1 when empty).
    ``flag`` names the paths' option in the error for a mismatch."""
    names = split_paths(paths)
    if not weights.strip():
        return names, [1.0] * len(names)
    try:
        values = [float(text) for text in weights.split(",")]
    except ValueError as error:
        raise AgentError(
            f"the weights {weights!r} of {flag} must be comma-separated numbers"
        ) from error
    if len(values) != len(names):
        raise AgentError(
            f"{len(values)} weights for {len(names)} {flag} paths; give one weight per path"
        )
    return names, values
