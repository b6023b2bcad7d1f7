"""Checks a dataset passes when train and eval open it, and the cache of full checksums.

``lsswm data verify`` recomputes every checksum, but train and eval read whatever is on disk,
so they check too, in two tiers (costs measured in docs/reliability.md):

* **file checks**, every open (:func:`dataset_problems` with ``checksums=False``): every
  episode's ``episode.json`` exists and hashes to the manifest's checksum, every array it
  lists exists with the recorded byte size and an ``.npy`` header of the recorded shape and
  dtype, and the manifest agrees with the episodes (lengths, frame shape, state keys, action
  dtype/shape, the action space recorded in episode.json, discrete actions inside
  ``[0, n)``). This catches deleted and truncated files and hand-edited manifests before a
  memory map of a short file fails in the middle of a run.
* **full checksums** (``checksums=True``; ``WindowDataset`` and eval's dataset episodes ask
  for them): the sha256 of every array file. A file that matched once is remembered by
  (path, size, mtime, inode) in ``$LSSWM_CACHE_DIR`` (default ``~/.cache/lsswm``)
  ``/verified/``, so each file is hashed once; any later write changes its mtime and it is
  hashed again. Files modified within the last few seconds are not remembered (a write in
  the same timestamp tick would not change the mtime). ``LSSWM_DATA_CHECKSUMS=0`` skips the
  full checksums (the file checks still run).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.episode_store import (
    CORE_ARRAYS,
    EPISODE_META,
    EPISODES_DIRNAME,
    STATE_PREFIX,
    EpisodeRecord,
    array_relpath,
)
from lsswm.collect.errors import DatasetError
from lsswm.collect.fileio import sha256_file

CHECKSUMS_ENV = "LSSWM_DATA_CHECKSUMS"
CACHE_ENV = "LSSWM_CACHE_DIR"
RACY_SECONDS = 3.0  # files younger than this are hashed every time, never cached
SHOWN_EPISODES = 3  # episodes named in the one-line error


def checksums_enabled() -> bool:
    return os.environ.get(CHECKSUMS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def read_npy_header(path: Path) -> tuple[tuple[int, ...], str, int]:
    """(shape, dtype.str, header length in bytes) of a .npy file, reading only its header."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        return tuple(shape), dtype.str, handle.tell()


def array_file_problems(folder: Path, key: str, entry: Mapping[str, Any]) -> list[str]:
    """Presence, byte size and .npy header of one array file against its episode.json entry."""
    path = Path(folder) / array_relpath(key)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [f"{key}: file missing"]
    if size < entry["bytes"]:
        return [f"{key}: truncated ({size} of {entry['bytes']} bytes)"]
    if size > entry["bytes"]:
        return [f"{key}: {size - entry['bytes']} extra bytes"]
    try:
        shape, dtype, header = read_npy_header(path)
    except (OSError, ValueError) as error:
        return [f"{key}: unreadable .npy header ({error})"]
    if list(shape) != list(entry["shape"]) or dtype != entry["dtype"]:
        return [
            f"{key}: header says {dtype} {list(shape)}, episode.json {entry['dtype']} "
            f"{list(entry['shape'])}"
        ]
    if header + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize != size:
        return [f"{key}: {size} bytes do not hold a {dtype} array of shape {list(shape)}"]
    return []


def space_text(space: Mapping[str, Any]) -> str:
    if space.get("type") == "discrete":
        return f"Discrete({space.get('n')})"
    return f"Box(shape={space.get('shape')})"


def consistency_problems(
    folder: Path, meta: Mapping[str, Any], record: EpisodeRecord, manifest: Any
) -> list[str]:
    """Does the manifest describe this episode as its episode.json and arrays do?"""
    from lsswm.collect.manifest import action_dtype, action_shape

    arrays = meta.get("arrays") or {}
    problems = []
    if meta.get("length") != record.length or meta.get("num_frames") != record.length + 1:
        problems.append(
            f"manifest length {record.length}, episode.json length {meta.get('length')}"
        )
    frames = arrays.get("frames", {}).get("shape", [])
    if manifest.image_shape is not None and list(frames[1:]) != list(manifest.image_shape):
        problems.append(f"manifest image_shape {manifest.image_shape}, frames {frames}")
    state = {k.removeprefix(STATE_PREFIX): v for k, v in arrays.items() if k.startswith("state/")}
    spec = manifest.state_spec or {}
    if sorted(state) != sorted(spec):
        problems.append(f"manifest state keys {sorted(spec)}, episode has {sorted(state)}")
    else:
        for key, entry in state.items():
            want = {"shape": list(entry["shape"][1:]), "dtype": entry["dtype"]}
            if dict(spec[key]) != want:
                problems.append(f"manifest state_spec.{key} {dict(spec[key])}, episode {want}")
    space = manifest.action_space
    if space is not None:
        recorded = meta.get("action_space")
        if recorded is not None and recorded != space:
            problems.append(
                f"manifest action space is {space_text(space)}, episode.json records "
                f"{space_text(recorded)}"
            )
        actions = arrays.get("actions", {})
        want_dtype, want_shape = action_dtype(space).str, list(action_shape(space))
        if actions.get("dtype") != want_dtype or list(actions.get("shape", [])[1:]) != want_shape:
            problems.append(
                f"manifest action_space {space} needs {want_dtype} actions of shape "
                f"(T+1, {', '.join(map(str, want_shape))}), episode has {actions.get('dtype')} "
                f"{actions.get('shape')}"
            )
        elif space["type"] == "discrete" and not problems:
            values = np.load(Path(folder) / array_relpath("actions"), mmap_mode="r")
            if len(values) and (int(values.min()) < 0 or int(values.max()) >= space["n"]):
                problems.append(
                    f"actions range over {int(values.min())}..{int(values.max())}, outside the "
                    f"manifest's {space['n']} discrete actions"
                )
    return problems


def episode_problems(
    root: Path, record: EpisodeRecord, files: bool = True
) -> tuple[list[str], dict[str, Any] | None]:
    """File checks of one listed episode (presence, size, .npy header); returns
    (problems, its episode.json or None)."""
    folder = Path(root) / EPISODES_DIRNAME / record.name
    try:
        text = (folder / EPISODE_META).read_bytes()
    except FileNotFoundError:
        what = "folder" if not folder.is_dir() else EPISODE_META
        return [f"{what} missing"], None
    if hashlib.sha256(text).hexdigest() != record.checksum:
        return [f"{EPISODE_META} checksum differs from the manifest"], None
    try:
        meta = json.loads(text)
        arrays = meta["arrays"]
        if any(key not in arrays for key in CORE_ARRAYS):
            return [f"{EPISODE_META} does not list the arrays {CORE_ARRAYS}"], None
    except (ValueError, KeyError, TypeError) as error:
        return [f"{EPISODE_META} is unreadable ({error})"], None
    problems = []
    if files:
        for key, entry in sorted(arrays.items()):
            problems += array_file_problems(folder, key, entry)
    return problems, meta


class ChecksumCache:
    """Array files whose sha256 matched, keyed by (path, size, mtime_ns, inode)."""

    def __init__(self, root: Path) -> None:
        base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "lsswm")
        key = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:20]
        self.path = base / "verified" / f"{key}.json"
        self.changed = False
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}

    def matches(self, path: Path, sha256: str) -> bool:
        """Does ``path`` hash to ``sha256``? (hashed only when the cache cannot tell)."""
        stat = path.stat()
        key = str(path.resolve())
        signature = [stat.st_size, stat.st_mtime_ns, stat.st_ino, sha256]
        if self.entries.get(key) == signature:
            return True
        if sha256_file(path) != sha256:
            self.entries.pop(key, None)
            return False
        if time.time() - stat.st_mtime > RACY_SECONDS:
            self.entries[key] = signature
            self.changed = True
        return True

    def save(self) -> None:
        """Best effort: a read-only home only costs the hashing again next time."""
        if not self.changed:
            return
        temp = self.path.with_name(f".tmp-{self.path.name}-{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps({"files": self.entries}))
            os.replace(temp, self.path)
        except OSError:
            temp.unlink(missing_ok=True)


def dataset_problems(
    root: Path, manifest: Any, records: list[EpisodeRecord], checksums: bool
) -> dict[str, list[str]]:
    """``{episode name: problems}`` of the listed episodes (empty: all pass)."""
    cache = ChecksumCache(root) if checksums else None
    found: dict[str, list[str]] = {}
    for record in records:
        problems, meta = episode_problems(root, record)
        if not problems and cache is not None and meta is not None:
            folder = Path(root) / EPISODES_DIRNAME / record.name
            for key, entry in sorted(meta["arrays"].items()):
                if not cache.matches(folder / array_relpath(key), entry["sha256"]):
                    problems.append(f"{key}: sha256 mismatch (corrupted)")
        if not problems and meta is not None:
            folder = Path(root) / EPISODES_DIRNAME / record.name
            problems += consistency_problems(folder, meta, record, manifest)
        if problems:
            found[record.name] = problems
    if cache is not None:
        cache.save()
    return found


def raise_for_problems(root: Path, problems: Mapping[str, list[str]], total: int) -> None:
    """One line naming the damaged episodes and the two ways out."""
    if not problems:
        return
    names = sorted(problems)
    shown = "; ".join(f"{name} ({', '.join(problems[name])})" for name in names[:SHOWN_EPISODES])
    more = f"; and {len(names) - SHOWN_EPISODES} more" if len(names) > SHOWN_EPISODES else ""
    raise DatasetError(
        f"{root}: {len(names)} of {total} episodes fail their checks: {shown}{more}; run "
        f"`lsswm data verify {root}` for the full list, then re-run the collection on the "
        f"folder to redo them, or `lsswm data repair {root}` to drop them"
    )
