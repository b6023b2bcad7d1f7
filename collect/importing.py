"""Shared machinery of the importers: a resumable, atomic conversion into our format.

An import is a collection whose episodes come from files instead of an env: episode i is the
i-th source trajectory in sorted path order, episode.json records its ``source_file`` (path
relative to the source folder), and the manifest records ``source``. The manifest is written
before the first episode; re-running an import into the same folder keeps the valid
episodes of the same source files and converts the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.episode_store import (
    EPISODE_META,
    EpisodeRecord,
    find_episode_problems,
    read_episode_meta,
    remove_stale_temp,
    write_episode,
)
from lsswm.collect.errors import DatasetError
from lsswm.collect.fileio import sha256_file
from lsswm.collect.manifest import Manifest, load_manifest, manifest_path

EpisodeArrays = dict[str, np.ndarray]


def state_spec_of_arrays(arrays: EpisodeArrays) -> dict[str, dict[str, Any]]:
    return {
        key.removeprefix("state/"): {"shape": list(array.shape[1:]), "dtype": array.dtype.str}
        for key, array in sorted(arrays.items())
        if key.startswith("state/")
    }


def run_import(
    out: Path,
    sources: Sequence[Path],
    source_root: Path,
    kind: str,
    convert: Callable[[Path], EpisodeArrays],
    env_id: Callable[[EpisodeArrays], str],
    action_space: Callable[[EpisodeArrays], dict[str, Any]],
    progress: bool = True,
) -> Manifest:
    """Convert ``sources`` (sorted paths under ``source_root``) into the dataset at ``out``."""
    from tqdm import tqdm

    from lsswm.collect.dataset import scan_episode_folders

    out, source_root = Path(out), Path(source_root)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} is an existing file, not a folder; pass a dataset folder path")
    if not sources:
        raise DatasetError(f"no {kind} trajectories found under {source_root}; check the path")
    policy = f"import:{kind}"
    source = {"kind": kind, "path": str(source_root.resolve())}
    if manifest_path(out).is_file():
        manifest = load_manifest(out)
        if manifest.policy != policy or manifest.source != source:
            raise DatasetError(
                f"{out} holds a dataset from {manifest.policy} {manifest.source}, not from "
                f"{policy} {source}; import into a new folder"
            )
    elif out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out} is not empty and has no manifest.json; import into a new folder")
    else:
        first = convert(sources[0])
        manifest = Manifest(env_id(first), policy, None, None, len(sources), source=source)
        manifest.set_env_description(
            first["frames"].shape[1:], action_space(first), state_spec_of_arrays(first)
        )
        out.mkdir(parents=True, exist_ok=True)
        manifest.save(out)
    manifest.episodes_requested = len(sources)
    remove_stale_temp(out)
    existing = scan_episode_folders(out)
    bar = tqdm(total=len(sources), unit="ep", desc=f"import {kind}", disable=not progress)
    try:
        for index, path in enumerate(sources):
            relative = str(path.relative_to(source_root))
            folder = existing.get(index)
            if folder is not None and not find_episode_problems(folder):
                meta = read_episode_meta(folder)
                if meta.get("source_file") == relative:
                    checksum = sha256_file(folder / EPISODE_META)
                    manifest.add(EpisodeRecord(index, folder.name, None, meta["length"], checksum))
                    bar.update(1)
                    continue
            arrays = convert(path)
            manifest.set_env_description(
                arrays["frames"].shape[1:], action_space(arrays), state_spec_of_arrays(arrays)
            )
            meta = {
                "seed": None,
                "env_id": manifest.env_id,
                "policy": policy,
                "action_space": action_space(arrays),
            }
            manifest.add(write_episode(out, index, arrays, {**meta, "source_file": relative}))
            if index % 16 == 15:
                manifest.save(out)
            bar.update(1)
    finally:
        manifest.save(out)
        bar.close()
    return manifest
