"""The dataset-level index ``<root>/manifest.json``: what was collected and how.

Its content is deterministic (no timestamps, host names, worker counts or backends), so a
dataset collected in one go and one that was killed and resumed end with byte-identical
manifests as well as byte-identical episode folders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.episode_store import FORMAT_NAME, FORMAT_VERSION, EpisodeRecord, episode_name
from lsswm.collect.errors import DatasetError
from lsswm.collect.fileio import atomic_write_json, flush_to_disk

MANIFEST_NAME = "manifest.json"


class ManifestSchemaError(DatasetError):
    """manifest.json parses but breaks the schema (`lsswm data repair` rebuilds it)."""


def describe_action_space(space: Any) -> dict[str, Any]:
    """Contract-2 description of a Gymnasium action space (Discrete or Box)."""
    import gymnasium

    if isinstance(space, gymnasium.spaces.Discrete):
        if int(space.start) != 0:
            raise DatasetError(f"Discrete action spaces must start at 0, got start={space.start}")
        return {"type": "discrete", "n": int(space.n)}
    if isinstance(space, gymnasium.spaces.Box):
        return {
            "type": "box",
            "shape": [int(n) for n in space.shape],
            "low": np.asarray(space.low, dtype=np.float64).tolist(),
            "high": np.asarray(space.high, dtype=np.float64).tolist(),
        }
    raise DatasetError(
        f"action space {space} is not supported; datasets record Discrete or Box actions"
    )


def action_dtype(action_space: Mapping[str, Any]) -> np.dtype:
    return np.dtype(np.int64) if action_space["type"] == "discrete" else np.dtype(np.float32)


def action_shape(action_space: Mapping[str, Any]) -> tuple[int, ...]:
    return () if action_space["type"] == "discrete" else tuple(action_space["shape"])


def describe_state_spec(spec: Mapping[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    """``{key: (shape, dtype)}`` -> JSON-able ``{key: {"shape": [...], "dtype": "<f8"}}``."""
    return {
        key: {"shape": [int(n) for n in shape], "dtype": np.dtype(dtype).str}
        for key, (shape, dtype) in sorted(spec.items())
    }


@dataclass
class Manifest:
    """Fields of manifest.json (documented in docs/dataset-format.md)."""

    env_id: str
    policy: str
    steps: int | None  # env steps per episode requested (None for imports)
    seed_base: int | None
    episodes_requested: int
    image_shape: list[int] | None = None
    action_space: dict[str, Any] | None = None
    state_spec: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: dict[str, Any] | None = None  # importers: where the data came from
    episodes: dict[int, EpisodeRecord] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    @property
    def complete(self) -> bool:
        return all(i in self.episodes for i in range(self.episodes_requested))

    @property
    def records(self) -> list[EpisodeRecord]:
        return [self.episodes[i] for i in sorted(self.episodes)]

    def add(self, record: EpisodeRecord) -> None:
        self.episodes[record.index] = record

    def set_env_description(
        self, image_shape: Iterable[int], action_space: Mapping[str, Any], state_spec: Mapping
    ) -> None:
        """Record the env's frame shape, action space and state spec (first episode wins)."""
        described = {
            "image_shape": [int(n) for n in image_shape],
            "action_space": dict(action_space),
            "state_spec": dict(state_spec),
        }
        if self.image_shape is None:
            self.image_shape = described["image_shape"]
            self.action_space = described["action_space"]
            self.state_spec = described["state_spec"]
        elif [self.image_shape, self.action_space, self.state_spec] != list(described.values()):
            have = (self.image_shape, self.action_space, sorted(self.state_spec))
            got = (described["image_shape"], described["action_space"], sorted(state_spec))
            raise DatasetError(
                f"episodes of {self.env_id} disagree on (frame shape, action space, state keys): "
                f"{have} vs {got}; one dataset holds episodes of one kind only, so write "
                "these to separate folders"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "format_version": self.format_version,
            "env_id": self.env_id,
            "policy": self.policy,
            "steps": self.steps,
            "seed_base": self.seed_base,
            "episodes_requested": self.episodes_requested,
            "complete": self.complete,
            "num_episodes": len(self.episodes),
            "num_frames": sum(r.length + 1 for r in self.episodes.values()),
            "image_shape": self.image_shape,
            "action_space": self.action_space,
            "state_spec": self.state_spec,
            "source": self.source,
            "episodes": [record.to_json() for record in self.records],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Manifest:
        if not isinstance(obj, Mapping):
            raise DatasetError(f"manifest is a JSON {type(obj).__name__}, not an object")
        if obj.get("format") != FORMAT_NAME:
            raise DatasetError(f"manifest format is {obj.get('format')!r}, not {FORMAT_NAME!r}")
        version = obj.get("format_version")
        if version != FORMAT_VERSION:
            raise DatasetError(
                f"dataset format_version {version} is not supported by this lsswm (reads "
                f"version {FORMAT_VERSION}); re-collect or convert the dataset"
            )
        problems = manifest_schema_problems(obj)
        if problems:
            raise ManifestSchemaError("; ".join(problems))
        records = [EpisodeRecord.from_json(entry) for entry in obj.get("episodes", [])]
        return cls(
            env_id=obj["env_id"],
            policy=obj["policy"],
            steps=obj.get("steps"),
            seed_base=obj.get("seed_base"),
            episodes_requested=int(obj.get("episodes_requested", len(records))),
            image_shape=obj.get("image_shape"),
            action_space=obj.get("action_space"),
            state_spec=obj.get("state_spec") or {},
            source=obj.get("source"),
            episodes={record.index: record for record in records},
        )

    def save(self, root: Path) -> None:
        """Flush the episodes written so far to disk, then atomically replace manifest.json."""
        flush_to_disk()
        atomic_write_json(Path(root) / MANIFEST_NAME, self.to_json())


# ---- schema ------------------------------------------------------------------------------
# Plain-Python schema check of manifest.json (docs/dataset-format.md); every problem is named
# by its JSON path, e.g. "episodes[2].length is '300' (str), expected an integer >= 0".


def _is_int(value: Any, low: int | None = None) -> bool:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return ok and (low is None or value >= low)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_list(value: Any, low: int = 0) -> bool:
    return isinstance(value, list) and all(_is_int(n, low) for n in value)


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} ({type(value).__name__})"


def action_space_problems(space: Any, where: str = "action_space") -> list[str]:
    if not isinstance(space, Mapping):
        return [f"{where} is {_shown(space)}, expected an object"]
    if space.get("type") == "discrete":
        if not _is_int(space.get("n"), 1):
            return [f"{where}.n is {_shown(space.get('n'))}, expected an integer >= 1"]
        return []
    if space.get("type") == "box":
        shape = space.get("shape")
        if not _int_list(shape, 1):
            return [f"{where}.shape is {_shown(shape)}, expected a list of integers >= 1"]
        size = int(np.prod(shape))
        problems = []
        for bound in ("low", "high"):
            flat = np.asarray(space.get(bound), dtype=object).ravel().tolist()
            if len(flat) != size or not all(_is_number(v) for v in flat):
                problems.append(f"{where}.{bound} must hold {size} numbers (shape {shape})")
        return problems
    return [f"{where}.type is {_shown(space.get('type'))}, expected 'discrete' or 'box'"]


def _dtype_ok(text: Any) -> bool:
    try:
        return isinstance(text, str) and np.dtype(text).str == text
    except TypeError:
        return False


def manifest_schema_problems(obj: Mapping[str, Any]) -> list[str]:
    """Everything in a parsed manifest.json that breaks the format (an empty list: valid)."""
    problems: list[str] = []

    def want(key: str, ok: bool, expected: str) -> None:
        if not ok:
            shown = _shown(obj[key]) if key in obj else "missing"
            problems.append(f"{key} is {shown}, expected {expected}")

    want("env_id", isinstance(obj.get("env_id"), str) and bool(obj.get("env_id")), "a string")
    want("policy", isinstance(obj.get("policy"), str) and bool(obj.get("policy")), "a string")
    for key in ("steps", "seed_base"):
        low = 1 if key == "steps" else None
        want(key, key in obj and (obj[key] is None or _is_int(obj[key], low)), "an integer or null")
    want("episodes_requested", _is_int(obj.get("episodes_requested"), 0), "an integer >= 0")
    entries = obj.get("episodes")
    if not isinstance(entries, list):
        want("episodes", False, "a list")
        entries = []
    indices: list[int] = []
    for position, entry in enumerate(entries):
        where = f"episodes[{position}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} is {_shown(entry)}, expected an object")
            continue
        checks = {
            "index": (_is_int(entry.get("index"), 0), "an integer >= 0"),
            "length": (_is_int(entry.get("length"), 0), "an integer >= 0"),
            "seed": (entry.get("seed") is None or _is_int(entry.get("seed")), "an integer/null"),
            "checksum": (
                isinstance(entry.get("checksum"), str)
                and re.fullmatch(r"[0-9a-f]{64}", entry["checksum"]) is not None,
                "a sha256 hex digest",
            ),
        }
        for key, (ok, expected) in checks.items():
            if not ok:
                shown = _shown(entry[key]) if key in entry else "missing"
                problems.append(f"{where}.{key} is {shown}, expected {expected}")
        if _is_int(entry.get("index"), 0):
            indices.append(entry["index"])
            if entry.get("name") != episode_name(entry["index"]):
                problems.append(
                    f"{where}.name is {_shown(entry.get('name'))}, expected "
                    f"{episode_name(entry['index'])!r}"
                )
    duplicated = sorted({i for i in indices if indices.count(i) > 1})
    if duplicated:
        problems.append(f"episodes list indices {duplicated} more than once")
    if entries or obj.get("image_shape") is not None:
        shape = obj.get("image_shape")
        ok = _int_list(shape, 1) and len(shape) == 3 and shape[2] == 3
        want("image_shape", ok, "[H, W, 3]")
        problems += action_space_problems(obj.get("action_space"))
    spec = obj.get("state_spec")
    if spec is not None and not isinstance(spec, Mapping):
        want("state_spec", False, "an object")
    for key, entry in (spec or {}).items() if isinstance(spec, Mapping) else ():
        ok = (
            isinstance(entry, Mapping)
            and _int_list(entry.get("shape"))
            and _dtype_ok(entry.get("dtype"))
        )
        if not ok:
            problems.append(
                f"state_spec.{key} is {_shown(entry)}, expected {{shape: [...], dtype: '<f8'}}"
            )
    if obj.get("source") is not None and not isinstance(obj.get("source"), Mapping):
        want("source", False, "an object or null")
    # The derived totals must agree with the list (a hand edit changes one, not the other).
    if not problems:
        if obj.get("num_episodes", len(entries)) != len(entries):
            problems.append(
                f"num_episodes is {obj['num_episodes']} but episodes lists {len(entries)}"
            )
        frames = sum(entry["length"] + 1 for entry in entries)
        if obj.get("num_frames", frames) != frames:
            problems.append(f"num_frames is {obj['num_frames']} but the episodes hold {frames}")
    return problems


def manifest_path(root: Path) -> Path:
    return Path(root) / MANIFEST_NAME


def load_manifest(root: Path) -> Manifest:
    path = manifest_path(root)
    if not path.is_file():
        raise DatasetError(
            f"{root} has no {MANIFEST_NAME}: not an lsswm dataset (create one with "
            "`lsswm collect` or an `lsswm data import-*` command)"
        )
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise DatasetError(
            f"{path} is not valid JSON ({error}); rebuild it from the episode folders with "
            f"`lsswm data repair {root}`"
        ) from error
    try:
        return Manifest.from_json(obj)
    except ManifestSchemaError as error:
        raise ManifestSchemaError(
            f"{path} is not a valid lsswm manifest: {error}; rebuild it from the episode "
            f"folders with `lsswm data repair {root}`"
        ) from error
