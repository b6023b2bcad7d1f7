"""One episode on disk: a folder of raw .npy arrays plus ``episode.json``, written atomically.

Layout of ``<root>/episodes/ep_000042/`` (see docs/dataset-format.md)::

    frames.npy       uint8 (T+1, H, W, 3)
    actions.npy      int64 (T+1,) or float32 (T+1, A); actions[0] is the null action
    rewards.npy      float32 (T+1,); rewards[0] == 0
    terminated.npy   bool (T+1,)
    truncated.npy    bool (T+1,)
    state/<key>.npy  (T+1, ...) per-frame environment state
    episode.json     seed, env id, policy, length, and shape/dtype/size/sha256 per array

The folder is assembled under a ``.tmp-*`` name and renamed into place in one step, so a
folder with a final name is always complete; ``episode.json`` is written last inside it and
its checksums let ``verify`` catch later truncation or bit rot. Durability against power
loss comes from the flush before each manifest write (see ``fileio``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.errors import DatasetError, disk_full_error
from lsswm.collect.fileio import canonical_json, save_npy, sha256_file, write_text

FORMAT_NAME = "lsswm-dataset"
FORMAT_VERSION = 1
EPISODES_DIRNAME = "episodes"
EPISODE_META = "episode.json"
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
CORE_ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated")
STATE_PREFIX = "state/"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


def episode_name(index: int) -> str:
    return f"ep_{index:06d}"


def episode_index(name: str) -> int | None:
    match = re.fullmatch(r"ep_(\d{6,})", name)
    return int(match.group(1)) if match else None


def array_relpath(key: str) -> str:
    """Array key ('frames', 'state/agent_pos') -> file path inside the episode folder."""
    return f"{key}.npy"


def check_episode_arrays(arrays: Mapping[str, np.ndarray]) -> int:
    """Validate the contract-2 layout of an episode's arrays; return the frame count T+1."""
    missing = [key for key in CORE_ARRAYS if key not in arrays]
    if missing:
        raise DatasetError(f"episode arrays lack {missing}; every episode needs {CORE_ARRAYS}")
    num_frames = len(arrays["frames"])
    frames = arrays["frames"]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise DatasetError(
            f"frames must be uint8 (T+1, H, W, 3), got {frames.dtype} {frames.shape}; "
            "record RGB image observations"
        )
    for key, array in arrays.items():
        if key not in CORE_ARRAYS:
            name = key.removeprefix(STATE_PREFIX)
            if not key.startswith(STATE_PREFIX) or not _SAFE_KEY.match(name):
                raise DatasetError(
                    f"array key {key!r} is not allowed; use 'state/<name>' with letters, "
                    "digits, '_', '.', '-'"
                )
        if len(array) != num_frames:
            raise DatasetError(
                f"array {key!r} has {len(array)} rows but frames has {num_frames}; all arrays "
                "are per frame (T+1 rows)"
            )
    return num_frames


@dataclass(frozen=True)
class EpisodeRecord:
    """What the manifest keeps about one finished episode."""

    index: int
    name: str
    seed: int | None
    length: int  # env steps T; the episode has T+1 frames
    checksum: str  # sha256 of episode.json, which holds the per-array checksums

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "seed": self.seed,
            "length": self.length,
            "checksum": self.checksum,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> EpisodeRecord:
        return cls(obj["index"], obj["name"], obj["seed"], obj["length"], obj["checksum"])


def write_episode(
    root: Path,
    index: int,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
) -> EpisodeRecord:
    """Atomically write episode ``index`` under ``root/episodes``; replaces an existing one.

    ``meta`` (``seed``, ``env_id``, ``policy``, ...) goes into episode.json; it must be deterministic
    (no timestamps, hostnames or pids) so that a re-collected episode is byte-identical.
    """
    num_frames = check_episode_arrays(arrays)
    episodes_dir = Path(root) / EPISODES_DIRNAME
    episodes_dir.mkdir(parents=True, exist_ok=True)
    name = episode_name(index)
    temp = episodes_dir / f"{TEMP_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    try:
        files: dict[str, Any] = {}
        for key in sorted(arrays):
            path = temp / array_relpath(key)
            path.parent.mkdir(exist_ok=True)
            array = np.ascontiguousarray(arrays[key])
            digest, size = save_npy(path, array)
            files[key] = {
                "shape": list(array.shape),
                "dtype": array.dtype.str,
                "bytes": size,
                "sha256": digest,
            }
        info = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "index": index,
            "name": name,
            "length": num_frames - 1,
            "num_frames": num_frames,
            **dict(meta),
            "arrays": files,
        }
        text = canonical_json(info)
        write_text(temp / EPISODE_META, text)
        _replace_dir(temp, episodes_dir / name)
    except OSError as error:
        shutil.rmtree(temp, ignore_errors=True)
        if error.errno == errno.ENOSPC:
            needed = sum(np.asarray(a).nbytes + 128 for a in arrays.values()) + 4096
            raise disk_full_error(episodes_dir / name, needed) from None
        raise
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return EpisodeRecord(index, name, meta.get("seed"), num_frames - 1, checksum)


def _replace_dir(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside first."""
    if target.exists():
        trash = target.with_name(f"{TRASH_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}")
        os.rename(target, trash)
        os.rename(source, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(source, target)


def remove_stale_temp(root: Path) -> list[str]:
    """Delete leftovers of interrupted writes (``.tmp-*`` / ``.trash-*``); return their names."""
    episodes_dir = Path(root) / EPISODES_DIRNAME
    removed = []
    if episodes_dir.is_dir():
        for entry in sorted(episodes_dir.iterdir()):
            if entry.name.startswith((TEMP_PREFIX, TRASH_PREFIX)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
    return removed


def read_episode_meta(folder: Path) -> dict[str, Any]:
    path = Path(folder) / EPISODE_META
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DatasetError(
            f"{folder} has no {EPISODE_META}; it is not a finished episode (run "
            "`lsswm data verify` and re-run the collection to redo it)"
        ) from error
    except (ValueError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path} is not valid JSON ({error}); re-collect the episode") from error


def find_episode_problems(folder: Path, expected_checksum: str | None = None) -> list[str]:
    """Full integrity check of one episode folder: an empty list means valid.

    Checks episode.json (and its checksum against the manifest when given), that every listed
    array exists with the recorded size (a short file is reported as truncated), and that its
    sha256 matches.
    """
    folder = Path(folder)
    meta_path = folder / EPISODE_META
    if not meta_path.is_file():
        return [f"missing {EPISODE_META}"]
    if expected_checksum is not None and sha256_file(meta_path) != expected_checksum:
        return [f"{EPISODE_META} checksum differs from the manifest"]
    try:
        meta = read_episode_meta(folder)
    except DatasetError as error:
        return [str(error)]
    arrays = meta.get("arrays")
    if not isinstance(arrays, dict) or any(key not in arrays for key in CORE_ARRAYS):
        return [f"{EPISODE_META} does not list the arrays {CORE_ARRAYS}"]
    problems = []
    for key, entry in sorted(arrays.items()):
        path = folder / array_relpath(key)
        if not path.is_file():
            problems.append(f"{key}: file missing")
            continue
        size = path.stat().st_size
        if size < entry["bytes"]:
            problems.append(f"{key}: truncated ({size} of {entry['bytes']} bytes)")
        elif size > entry["bytes"]:
            problems.append(f"{key}: {size - entry['bytes']} extra bytes")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{key}: sha256 mismatch (corrupted)")
        elif entry["shape"][:1] != [meta.get("num_frames")]:
            problems.append(f"{key}: {entry['shape'][0]} rows, expected {meta.get('num_frames')}")
    return problems


class Episode(Mapping[str, np.ndarray]):
    """Read access to one stored episode; arrays are memory-mapped unless ``mmap=False``.

    Mapping keys are the array keys ('frames', 'actions', ..., 'state/agent_pos');
    :attr:`state` gives the state arrays by their short name; :attr:`meta` is episode.json.
    """

    def __init__(self, folder: Path, mmap: bool = True) -> None:
        self.folder = Path(folder)
        self.meta = read_episode_meta(self.folder)
        self._mmap = mmap
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.meta["arrays"]:
            raise KeyError(key)
        if key not in self._cache:
            path = self.folder / array_relpath(key)
            self._cache[key] = np.load(path, mmap_mode="r" if self._mmap else None)
        return self._cache[key]

    def __iter__(self):
        return iter(sorted(self.meta["arrays"]))

    def __len__(self) -> int:
        return len(self.meta["arrays"])

    @property
    def num_frames(self) -> int:
        return int(self.meta["num_frames"])

    @property
    def length(self) -> int:
        return int(self.meta["length"])

    @property
    def state_keys(self) -> list[str]:
        return [key.removeprefix(STATE_PREFIX) for key in self if key.startswith(STATE_PREFIX)]

    @property
    def state(self) -> dict[str, np.ndarray]:
        return {name: self[STATE_PREFIX + name] for name in self.state_keys}
