"""Open, verify and summarise a dataset folder (``manifest.json`` + ``episodes/ep_*``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.episode_store import (
    EPISODE_META,
    EPISODES_DIRNAME,
    TEMP_PREFIX,
    TRASH_PREFIX,
    Episode,
    EpisodeRecord,
    episode_index,
    find_episode_problems,
)
from lsswm.collect.fileio import sha256_file
from lsswm.collect.manifest import Manifest, load_manifest


class Dataset:
    """A dataset on disk, indexed by its manifest. ``dataset[i]`` is the i-th episode listed.

    Episodes are opened lazily and memory-mapped: building a Dataset reads only the manifest.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest: Manifest = load_manifest(self.root)
        self.records: list[EpisodeRecord] = self.manifest.records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, position: int) -> Episode:
        return self.episode(self.records[position])

    def __iter__(self) -> Iterator[Episode]:
        for record in self.records:
            yield self.episode(record)

    def episode(self, record: EpisodeRecord, mmap: bool = True) -> Episode:
        return Episode(self.root / EPISODES_DIRNAME / record.name, mmap=mmap)

    @property
    def env_id(self) -> str:
        return self.manifest.env_id

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest.image_shape or ())

    @property
    def action_space(self) -> dict[str, Any]:
        return dict(self.manifest.action_space or {})

    @property
    def num_frames(self) -> int:
        return sum(record.length + 1 for record in self.records)


def open_dataset(root: str | Path) -> Dataset:
    """Open the dataset at ``root`` (raises DatasetError with a fix when it is not one)."""
    return Dataset(root)


def scan_episode_folders(root: Path) -> dict[int, Path]:
    """Finished-looking episode folders by index (temp/trash leftovers are not included)."""
    episodes_dir = Path(root) / EPISODES_DIRNAME
    found: dict[int, Path] = {}
    if episodes_dir.is_dir():
        for entry in episodes_dir.iterdir():
            index = episode_index(entry.name)
            if index is not None and entry.is_dir():
                found[index] = entry
    return dict(sorted(found.items()))


@dataclass
class VerifyReport:
    valid: list[str] = field(default_factory=list)
    invalid: dict[str, list[str]] = field(default_factory=dict)  # name -> problems
    missing: list[str] = field(default_factory=list)  # in the manifest, not on disk
    unindexed: list[str] = field(default_factory=list)  # valid on disk, not in manifest
    leftovers: list[str] = field(default_factory=list)  # temp/trash of interrupted writes
    not_collected: int = 0  # requested episodes not (yet) collected

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.missing


def verify_dataset(root: str | Path) -> VerifyReport:
    """Check every episode against its checksums and the manifest."""
    root = Path(root)
    manifest = load_manifest(root)
    on_disk = scan_episode_folders(root)
    report = VerifyReport()
    for record in manifest.records:
        folder = on_disk.pop(record.index, None)
        if folder is None:
            report.missing.append(record.name)
            continue
        problems = find_episode_problems(folder, expected_checksum=record.checksum)
        if problems:
            report.invalid[record.name] = problems
        else:
            report.valid.append(record.name)
    for folder in on_disk.values():
        problems = find_episode_problems(folder)
        if problems:
            report.invalid[folder.name] = problems
        else:
            report.unindexed.append(folder.name)
    episodes_dir = root / EPISODES_DIRNAME
    if episodes_dir.is_dir():
        report.leftovers = sorted(
            entry.name
            for entry in episodes_dir.iterdir()
            if entry.name.startswith((TEMP_PREFIX, TRASH_PREFIX))
        )
    report.not_collected = max(0, manifest.episodes_requested - len(manifest.episodes))
    return report


def disk_usage(root: Path) -> int:
    return sum(path.stat().st_size for path in Path(root).rglob("*") if path.is_file())


def summarize_dataset(root: str | Path) -> dict[str, Any]:
    """Episodes, frames, size on disk, lengths and the action histogram (for `data info`)."""
    dataset = open_dataset(root)
    space = dataset.action_space
    lengths = [record.length for record in dataset.records]
    summary: dict[str, Any] = {
        "root": str(dataset.root),
        "env_id": dataset.env_id,
        "policy": dataset.manifest.policy,
        "format_version": dataset.manifest.format_version,
        "episodes": len(dataset),
        "episodes_requested": dataset.manifest.episodes_requested,
        "complete": dataset.manifest.complete,
        "frames": dataset.num_frames,
        "env_steps": int(sum(lengths)),
        "episode_length": {
            "min": int(min(lengths, default=0)),
            "max": int(max(lengths, default=0)),
            "mean": float(np.mean(lengths)) if lengths else 0.0,
        },
        "image_shape": list(dataset.image_shape),
        "action_space": space,
        "state_keys": sorted(dataset.manifest.state_spec),
        "bytes_on_disk": disk_usage(dataset.root),
    }
    # actions[0] is the null action, not a decision: it is left out of the statistics.
    if space.get("type") == "discrete":
        counts = np.zeros(int(space["n"]), dtype=np.int64)
        for episode in dataset:
            counts += np.bincount(np.asarray(episode["actions"][1:]), minlength=len(counts))
        summary["action_histogram"] = counts.tolist()
    elif space.get("type") == "box":
        stacked = [np.asarray(episode["actions"][1:], dtype=np.float64) for episode in dataset]
        values = np.concatenate(stacked) if stacked else np.zeros((0, *space["shape"]))
        summary["action_stats"] = {
            "mean": values.mean(axis=0).tolist() if len(values) else None,
            "std": values.std(axis=0).tolist() if len(values) else None,
            "min": values.min(axis=0).tolist() if len(values) else None,
            "max": values.max(axis=0).tolist() if len(values) else None,
        }
    rewards = [float(np.sum(episode["rewards"])) for episode in dataset]
    summary["return"] = {
        "mean": float(np.mean(rewards)) if rewards else 0.0,
        "max": float(np.max(rewards)) if rewards else 0.0,
    }
    return summary


def episode_checksum(folder: Path) -> str:
    return sha256_file(Path(folder) / EPISODE_META)
