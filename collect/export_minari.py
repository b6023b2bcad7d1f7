"""Export a dataset to Minari (the optional ``export`` extra), losslessly.

Minari stores one Gymnasium episode as T+1 observations and T actions/rewards/flags; ours
are per frame (index 0 holds the null action), so the export drops index 0 of actions,
rewards, terminated and truncated, and keeps the per-frame state as ``infos["state"][key]``
(T+1 rows, like the observations). Images are stored raw: ``jpeg_encoding=False`` (Minari
0.5.4's default is lossy JPEG); an installed Minari without that argument stores raw
arrays anyway. The dataset lands in Minari's root (``MINARI_DATASETS_PATH``, or
``--minari-root``), under the given dataset id (``namespace/name-v0`` style).
"""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.dataset import open_dataset
from lsswm.collect.errors import DatasetError, MissingExtraError


def import_minari():
    try:
        import minari
    except ImportError as error:
        raise MissingExtraError(
            "export-minari needs the optional 'export' extra: pip install 'lsswm[export]' "
            "(or pip install minari)"
        ) from error
    return minari


def gym_action_space(description: dict[str, Any]):
    import gymnasium

    if description["type"] == "discrete":
        return gymnasium.spaces.Discrete(int(description["n"]))
    return gymnasium.spaces.Box(
        np.asarray(description["low"], np.float32),
        np.asarray(description["high"], np.float32),
        shape=tuple(description["shape"]),
        dtype=np.float32,
    )


def export_minari(root: str | Path, dataset_id: str, minari_root: str | Path | None = None):
    """Write the dataset at ``root`` as Minari dataset ``dataset_id``; returns it loaded."""
    minari = import_minari()
    import gymnasium
    from minari.data_collector.episode_buffer import EpisodeBuffer

    if minari_root is not None:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(minari_root).resolve())
    if dataset_id in minari.list_local_datasets():
        raise DatasetError(
            f"Minari dataset {dataset_id!r} already exists; delete it "
            f"(minari.delete_dataset) or choose another name"
        )
    dataset = open_dataset(root)
    if not len(dataset):
        raise DatasetError(f"{root} has no episodes to export")
    buffers = []
    for position, episode in enumerate(dataset):
        state = {key: np.asarray(value) for key, value in episode.state.items()}
        buffers.append(
            EpisodeBuffer(
                id=position,
                seed=episode.meta.get("seed"),
                observations=np.asarray(episode["frames"]),
                actions=np.asarray(episode["actions"][1:]),
                rewards=np.asarray(episode["rewards"][1:], dtype=np.float64).tolist(),
                terminations=np.asarray(episode["terminated"][1:]).tolist(),
                truncations=np.asarray(episode["truncated"][1:]).tolist(),
                infos={"state": state} if state else None,
            )
        )
    kwargs: dict[str, Any] = {}
    parameters = inspect.signature(minari.create_dataset_from_buffers).parameters
    if "jpeg_encoding" in parameters:
        kwargs["jpeg_encoding"] = False
    observation_space = gymnasium.spaces.Box(0, 255, tuple(dataset.image_shape), np.uint8)
    with warnings.catch_warnings():
        # Minari warns about unset author / permalink / eval env: noise for a local export.
        warnings.filterwarnings("ignore", category=UserWarning, module="minari")
        return minari.create_dataset_from_buffers(
            dataset_id=dataset_id,
            buffer=buffers,
            observation_space=observation_space,
            action_space=gym_action_space(dataset.action_space),
            algorithm_name=dataset.manifest.policy,
            description=f"lsswm dataset of {dataset.env_id} exported from {dataset.root}",
            **kwargs,
        )
