"""The dataset-level index ``<root>/manifest.json``: what was collected and how.

Its content is deterministic (no timestamps, host names, worker counts or backends), so a
dataset collected in one go and one that was killed and resumed end with byte-identical
manifests as well as byte-identical episode folders.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.episode_store import FORMAT_NAME, FORMAT_VERSION, EpisodeRecord
from lsswm.collect.errors import DatasetError
from lsswm.collect.fileio import atomic_write_json, flush_to_disk

MANIFEST_NAME = "manifest.json"


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
        if obj.get("format") != FORMAT_NAME:
            raise DatasetError(f"manifest format is {obj.get('format')!r}, not {FORMAT_NAME!r}")
        version = obj.get("format_version")
        if version != FORMAT_VERSION:
            raise DatasetError(
                f"dataset format_version {version} is not supported by this lsswm (reads "
                f"version {FORMAT_VERSION}); re-collect or convert the dataset"
            )
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
    except ValueError as error:
        raise DatasetError(
            f"{path} is not valid JSON ({error}); re-run the collection on the same folder to "
            "rebuild it from the episode folders"
        ) from error
    return Manifest.from_json(obj)
