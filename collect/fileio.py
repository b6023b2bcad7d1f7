"""Crash-safe file primitives: hashed .npy writes, atomic JSON, flushing to disk.

Durability policy (why episode files are not fsynced one by one): a SIGKILL never loses data
that reached the page cache, so only a power cut or kernel crash can leave a renamed episode
folder whose blocks never reached the disk. Readers trust the episodes listed in
manifest.json, and every manifest write is preceded by :func:`flush_to_disk`, so listed
episodes are durable; unlisted folders are re-verified by checksum when a collection resumes.
One flush per manifest write (at most every 2 s) instead of ~15 fsyncs per episode keeps the
write path cheap (``lsswm bench collect``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

_HASH_CHUNK = 1 << 20


class _HashingWriter:
    """File-object shim: numpy writes through it, we hash and count the bytes on the way."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += view.nbytes
        return self._handle.write(view)


def save_npy(path: Path, array: np.ndarray) -> tuple[str, int]:
    """Write ``array`` as a .npy file; return (sha256 hex of the file bytes, file size)."""
    array = np.ascontiguousarray(array)
    with open(path, "wb") as handle:
        writer = _HashingWriter(handle)
        np.lib.format.write_array(writer, array, allow_pickle=False)
    return writer.digest.hexdigest(), writer.size


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, fixed indent, trailing newline)."""
    return json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n"


def write_text(path: Path, text: str, fsync: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


def flush_to_disk() -> None:
    """Make every file written so far durable (Linux ``sync(2)`` waits for the writeback)."""
    os.sync()


def fsync_dir(path: Path) -> None:
    """Persist a rename or a new entry in ``path`` (a directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as canonical JSON: write a temp file, fsync, rename.

    A failed write leaves ``path`` as it was and no temp file; a full disk raises
    DiskFullError naming the path and the bytes needed."""
    from lsswm.collect.errors import disk_full_error

    path = Path(path)
    temp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    text = canonical_json(obj)
    try:
        write_text(temp, text, fsync=True)
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise disk_full_error(path, len(text.encode("utf-8"))) from None
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
