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


class DiskFullError(DatasetError):
    """A write failed with ENOSPC; the message names the path and the bytes it needed."""


def disk_full_error(path, needed: int | None) -> DiskFullError:
    """The one-line report of an ENOSPC while writing ``path`` (``needed`` bytes)."""
    import shutil
    from pathlib import Path

    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free:,} bytes free"
    except OSError:
        free = "free space unknown"
    need = f"needs about {needed:,} bytes; " if needed else ""
    return DiskFullError(
        f"no space left on device writing {path} ({need}{free} on that file system); free some space or pass another --out, then re-run the same "
        "command (finished episodes are kept)"
    )
