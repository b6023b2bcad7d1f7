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
    episode_name,
    find_episode_problems,
    read_episode_meta,
)
from lsswm.collect.errors import DatasetError
from lsswm.collect.fileio import sha256_file
from lsswm.collect.integrity import (
    checksums_enabled,
    consistency_problems,
    dataset_problems,
    raise_for_problems,
)
from lsswm.collect.manifest import Manifest, load_manifest

CHECKS = ("none", "files", "checksums")


class Dataset:
    """A dataset on disk, indexed by its manifest. ``dataset[i]`` is the i-th episode listed.

    Episodes are opened lazily and memory-mapped. ``check`` says what is verified first (see
    ``integrity``): ``"files"`` (default) every listed file's presence, size and .npy header
    and the manifest's agreement with the episodes; ``"checksums"`` also every array's sha256
    (cached per file, skipped when ``LSSWM_DATA_CHECKSUMS=0``); ``"none"`` only the manifest.
    A failed check raises DatasetError naming the episodes and the fix.
    """

    def __init__(self, root: str | Path, check: str = "files") -> None:
        if check not in CHECKS:
            raise ValueError(f"check must be one of {CHECKS}, got {check!r}")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"{self.root} is a file, not a dataset folder; pass the folder")
        self.manifest: Manifest = load_manifest(self.root)
        self.records: list[EpisodeRecord] = self.manifest.records
        if check != "none":
            checksums = check == "checksums" and checksums_enabled()
            problems = dataset_problems(self.root, self.manifest, self.records, checksums)
            raise_for_problems(self.root, problems, len(self.records))

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
        self.require_episodes()
        return tuple(self.manifest.image_shape or ())

    @property
    def action_space(self) -> dict[str, Any]:
        self.require_episodes()
        return dict(self.manifest.action_space or {})

    def require_episodes(self) -> None:
        """Refuse an empty dataset: it has no frame shape or action space to give."""
        if not self.records or self.manifest.image_shape is None:
            requested = self.manifest.episodes_requested
            raise DatasetError(
                f"{self.root} holds no episodes yet (0 of {requested} requested were recorded); "
                "run or finish the collection (`lsswm collect ... --out` this folder) first"
            )

    @property
    def num_frames(self) -> int:
        return sum(record.length + 1 for record in self.records)


def open_dataset(root: str | Path, check: str = "files") -> Dataset:
    """Open the dataset at ``root`` (raises DatasetError with a fix when it is not one, or
    when its files fail ``check``: see :class:`Dataset`)."""
    return Dataset(root, check)


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
    not_collected: list[str] = field(default_factory=list)  # requested, not (yet) recorded
    manifest_problems: list[str] = field(default_factory=list)  # manifest vs episode files

    @property
    def ok(self) -> bool:
        """Nothing listed is damaged or missing (the dataset may still be incomplete)."""
        return not self.invalid and not self.missing and not self.manifest_problems

    @property
    def complete(self) -> bool:
        return self.ok and not self.not_collected


def verify_dataset(root: str | Path) -> VerifyReport:
    """Check every episode against its checksums and the manifest."""
    root = Path(root)
    manifest = load_manifest(root)
    on_disk = scan_episode_folders(root)
    report = VerifyReport()
    disagreements: dict[str, list[str]] = {}
    for record in manifest.records:
        folder = on_disk.pop(record.index, None)
        if folder is None:
            report.missing.append(record.name)
            continue
        problems = find_episode_problems(folder, expected_checksum=record.checksum)
        if problems:
            report.invalid[record.name] = problems
            continue
        report.valid.append(record.name)
        meta = read_episode_meta(folder)
        for problem in consistency_problems(folder, meta, record, manifest):
            disagreements.setdefault(problem, []).append(record.name)
    for problem, names in disagreements.items():
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        report.manifest_problems.append(f"{problem} ({shown})")
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
    report.not_collected = [
        episode_name(i)
        for i in range(manifest.episodes_requested)
        if i not in manifest.episodes and episode_name(i) not in report.unindexed
    ]
    return report


def disk_usage(root: Path) -> int:
    return sum(path.stat().st_size for path in Path(root).rglob("*") if path.is_file())


def summarize_dataset(root: str | Path) -> dict[str, Any]:
    """Episodes, frames, size on disk, lengths and the action histogram (for `data info`)."""
    dataset = open_dataset(root)
    space = dict(dataset.manifest.action_space or {})
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
        "image_shape": list(dataset.manifest.image_shape or []),
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
    # Frames that carry a nonzero reward: rare in Memory Maze, what a reward head learns from.
    events = int(sum(np.count_nonzero(episode["rewards"]) for episode in dataset))
    frames = max(1, dataset.num_frames)
    summary["reward_frames"] = events
    summary["rewards_per_1000_frames"] = 1000.0 * events / frames
    return summary


def episode_checksum(folder: Path) -> str:
    return sha256_file(Path(folder) / EPISODE_META)
