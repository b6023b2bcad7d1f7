"""``lsswm data repair DIR``: rebuild manifest.json from the episode folders.

For a manifest that is garbage, missing or disagrees with its episodes. Every episode folder
is checked on its own (episode.json and the sha256 of every array it lists); the valid ones
that agree with each other (env, policy, step cap, seed base, frame shape, state spec,
actions) are indexed in a new manifest, the rest are moved to ``DIR/dropped-by-repair/``
together with the replaced manifest, and listed. Re-running the same ``lsswm collect`` on
the folder afterwards records the dropped and missing episodes again.

Fields that only the manifest held come from the old manifest when they still parse
(``episodes_requested``, an import's ``source``); the action space comes from the episodes'
episode.json (recorded since this version), else from the old manifest when the actions fit
it, else from the env itself.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.dataset import scan_episode_folders
from lsswm.collect.episode_store import (
    EPISODE_META,
    STATE_PREFIX,
    EpisodeRecord,
    array_relpath,
    find_episode_problems,
    read_episode_meta,
    remove_stale_temp,
)
from lsswm.collect.errors import DatasetError
from lsswm.collect.fileio import sha256_file
from lsswm.collect.manifest import (
    MANIFEST_NAME,
    Manifest,
    action_dtype,
    action_shape,
    action_space_problems,
)

DROPPED_DIRNAME = "dropped-by-repair"


@dataclass
class RepairReport:
    kept: list[str] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # name -> reasons
    moved_to: Path | None = None
    old_manifest: str = "missing"  # "missing", "unreadable", "replaced"
    manifest: Manifest | None = None


def _old_manifest(root: Path) -> tuple[dict[str, Any], str]:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return {}, "missing"
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}, "unreadable"
    return (obj if isinstance(obj, dict) else {}), "replaced"


def _signature(index: int, meta: Mapping[str, Any]) -> tuple:
    arrays = meta["arrays"]
    seed = meta.get("seed")
    state = tuple(
        sorted(
            (key.removeprefix(STATE_PREFIX), tuple(e["shape"][1:]), e["dtype"])
            for key, e in arrays.items()
            if key.startswith(STATE_PREFIX)
        )
    )
    return (
        meta.get("env_id"),
        meta.get("policy"),
        meta.get("steps"),
        None if seed is None else seed - index,
        tuple(arrays["frames"]["shape"][1:]),
        state,
        arrays["actions"]["dtype"],
        tuple(arrays["actions"]["shape"][1:]),
        json.dumps(meta.get("action_space"), sort_keys=True),
    )


def _describe(signature: tuple) -> str:
    env, policy, steps, seed_base, frames, state, dtype, shape, _ = signature
    return (
        f"env={env} policy={policy} steps={steps} seed_base={seed_base} frames={list(frames)} "
        f"state={[s[0] for s in state]} actions={dtype}{list(shape)}"
    )


def _actions_fit(space: Mapping[str, Any], folders: list[Path], signature: tuple) -> bool:
    if action_dtype(space).str != signature[6] or list(action_shape(space)) != list(signature[7]):
        return False
    if space["type"] != "discrete":
        return True
    top = max(int(np.load(f / array_relpath("actions"), mmap_mode="r").max()) for f in folders)
    return top < space["n"]


def _action_space(
    signature: tuple, old: Mapping[str, Any], folders: list[Path]
) -> tuple[dict, str]:
    recorded = json.loads(signature[8])
    if recorded is not None:
        return recorded, "episode.json"
    space = old.get("action_space")
    if not action_space_problems(space) and _actions_fit(space, folders, signature):
        return dict(space), "the old manifest"
    env_id = signature[0]
    try:
        from lsswm.collect.manifest import describe_action_space
        from lsswm.collect.rollout import make_env

        env = make_env(env_id)
        try:
            space = describe_action_space(env.action_space)
        finally:
            env.close()
    except Exception as error:  # any failure to build the env: say what is missing
        raise DatasetError(
            f"cannot tell the action space of these episodes: episode.json does not record it, "
            f"the old manifest's is unusable and env {env_id!r} cannot be made here ({error}); "
            "re-collect or re-import the dataset"
        ) from error
    if not _actions_fit(space, folders, signature):
        raise DatasetError(
            f"the actions of these episodes do not fit env {env_id!r}'s action space {space}; "
            "re-collect or re-import the dataset"
        )
    return space, f"env {env_id}"


def _move_aside(source: Path, dropped_dir: Path) -> None:
    dropped_dir.mkdir(exist_ok=True)
    target = dropped_dir / source.name
    if target.exists():
        target = dropped_dir / f"{source.name}-{uuid.uuid4().hex[:8]}"
    os.rename(source, target)


def repair_dataset(root: str | Path, log=print) -> RepairReport:
    """Rebuild ``root/manifest.json`` from the episode folders (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; pass a dataset folder to repair")
    folders = scan_episode_folders(root)
    old, state = _old_manifest(root)
    report = RepairReport(old_manifest=state, moved_to=root / DROPPED_DIRNAME)
    if not folders:
        raise DatasetError(
            f"{root} has no episode folders (episodes/ep_*); there is nothing to rebuild a "
            "manifest from: collect into a new folder"
        )
    remove_stale_temp(root)
    valid: dict[int, tuple[Path, dict[str, Any]]] = {}
    for index, folder in folders.items():
        problems = find_episode_problems(folder)
        meta = read_episode_meta(folder) if not problems else {}
        if not problems and meta.get("index") != index:
            problems = [f"episode.json says index {meta.get('index')}, folder says {index}"]
        if problems:
            report.dropped[folder.name] = problems
        else:
            valid[index] = (folder, meta)
    if not valid:
        names = ", ".join(sorted(report.dropped))
        raise DatasetError(
            f"no episode of {root} passes its checks ({names}); nothing can be kept: collect "
            "into a new folder"
        )
    signatures = {index: _signature(index, meta) for index, (_, meta) in valid.items()}
    counts = Counter(signatures.values())
    # The most common kind wins; among equals, the kind of the lowest index.
    winner = max(
        counts, key=lambda s: (counts[s], -min(i for i, t in signatures.items() if t == s))
    )
    for index, signature in signatures.items():
        if signature != winner:
            folder = valid.pop(index)[0]
            report.dropped[folder.name] = [
                f"recorded with {_describe(signature)}, unlike the {counts[winner]} kept "
                f"episodes ({_describe(winner)})"
            ]
    kept_folders = [folder for folder, _ in valid.values()]
    space, _ = _action_space(winner, old, kept_folders)
    env_id, policy, steps, seed_base, frames, state_spec, _, _, _ = winner
    requested = old.get("episodes_requested")
    highest = max(folders) + 1
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < highest:
        requested = highest
    source = old.get("source") if isinstance(old.get("source"), dict) else None
    manifest = Manifest(
        env_id, policy, steps, seed_base, requested, source=source if seed_base is None else None
    )
    manifest.set_env_description(
        frames,
        space,
        {key: {"shape": list(shape), "dtype": dtype} for key, shape, dtype in state_spec},
    )
    for index, (folder, meta) in sorted(valid.items()):
        checksum = sha256_file(folder / EPISODE_META)
        manifest.add(EpisodeRecord(index, folder.name, meta.get("seed"), meta["length"], checksum))
        report.kept.append(folder.name)
    dropped_dir = root / DROPPED_DIRNAME
    for name in sorted(report.dropped):
        _move_aside(folders[int(name.removeprefix("ep_"))], dropped_dir)
    if state != "missing":  # keep the replaced manifest; the new one replaces it atomically
        dropped_dir.mkdir(exist_ok=True)
        shutil.copy2(root / MANIFEST_NAME, dropped_dir / f"{MANIFEST_NAME}-{uuid.uuid4().hex[:8]}")
    manifest.save(root)
    report.manifest = manifest
    return report
