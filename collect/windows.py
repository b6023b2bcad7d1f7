"""Random windows of L consecutive frames for training (contract 2's loader).

``WindowDataset(root, window_length, seed=0, rank=0, world_size=1)`` is a torch
``IterableDataset`` that is also indexable:

* An epoch is a sequence of ``windows_per_epoch`` window ids k = 0, 1, ... Window k is drawn
  from a counter-based RNG seeded with (seed, epoch, k): uniform over every valid start
  position of every episode with at least L frames (so long episodes get proportionally
  more windows). The same seed and epoch give the same windows in any process.
* Sharding: rank r of ``world_size`` owns the ids k with k % world_size == r (the epoch
  length is rounded down to a multiple of world_size so every DDP rank yields the same
  count); inside a DataLoader, worker w of W yields every W-th of the rank's ids. Shards are
  disjoint and together cover the epoch, independently of W.
* ``len(ds)`` is the rank's window count, ``ds[i]`` its i-th window; ``ds.window(k)`` reads
  global window k. ``set_epoch(e)`` draws a fresh set of windows.

Reads are memory-mapped slices of the per-episode .npy files: a window costs O(L) (frames
are copied out of the page cache, nothing is decompressed). Items are dicts of numpy arrays
(DataLoader's default collate turns them into tensors)::

    frames     uint8   (L, H, W, 3)
    actions    int64   (L,) or float32 (L, A)   actions[i] led to frames[i]
    rewards    float32 (L,)
    terminated bool    (L,)
    truncated  bool    (L,)
    state      {key: (L, ...)}                   per-frame env state
    episode    int     position of the episode in the dataset
    start      int     index of frames[0] inside the episode
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsswm.collect.dataset import open_dataset
from lsswm.collect.episode_store import EPISODES_DIRNAME, Episode
from lsswm.collect.errors import DatasetError

WINDOW_RNG_SALT = 0x57D0


class WindowDataset(torch.utils.data.IterableDataset):
    def __init__(
        self,
        root: str | Path,
        window_length: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        *,
        windows_per_epoch: int | None = None,
        epoch: int = 0,
        state_keys: Sequence[str] | None = None,
        episodes: Sequence[int] | None = None,
    ) -> None:
        """
        Args:
            root: dataset folder (manifest.json + episodes/).
            window_length: L, frames per window.
            seed, epoch: select the windows (see the module docstring).
            rank, world_size: DDP sharding.
            windows_per_epoch: ids per epoch before rounding to world_size; default: the
                eligible frames divided by L (about one pass over the data).
            state_keys: state arrays to include (default all; ``()`` for none).
            episodes: restrict to these episode positions (e.g. a train/validation split).
        """
        super().__init__()
        if window_length < 1:
            raise DatasetError(f"window_length must be >= 1, got {window_length}")
        if not 0 <= rank < world_size:
            raise DatasetError(f"rank {rank} is not in [0, world_size={world_size})")
        # Every file is checked before training reads it (checksums cached per file; see
        # collect/integrity.py): a damaged episode fails here, by name, not mid-run.
        dataset = open_dataset(root, check="checksums")
        dataset.require_episodes()
        self.root = dataset.root
        self.window_length = int(window_length)
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.manifest = dataset.manifest
        positions = range(len(dataset)) if episodes is None else episodes
        chosen = [(p, dataset.records[p]) for p in positions]
        eligible = [(p, r) for p, r in chosen if r.length + 1 >= self.window_length]
        if not eligible:
            longest = max((r.length + 1 for _, r in chosen), default=0)
            raise DatasetError(
                f"no episode in {root} has {self.window_length} frames (longest: {longest}); "
                "use a shorter window_length or collect longer episodes"
            )
        self.episode_positions = np.array([p for p, _ in eligible], dtype=np.int64)
        self._names = [r.name for _, r in eligible]
        starts = np.array([r.length + 2 - self.window_length for _, r in eligible], np.int64)
        self._cumulative_starts = np.cumsum(starts)
        self.total_windows = int(self._cumulative_starts[-1])
        eligible_frames = int(sum(r.length + 1 for _, r in eligible))
        wanted = windows_per_epoch or max(1, eligible_frames // self.window_length)
        self.windows_per_epoch = max(self.world_size, wanted - wanted % self.world_size)
        available = sorted(self.manifest.state_spec)
        self.state_keys = list(available if state_keys is None else state_keys)
        unknown = sorted(set(self.state_keys) - set(available))
        if unknown:
            raise DatasetError(f"state keys {unknown} not in the dataset (it has {available})")
        self._open: dict[int, Episode] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps are reopened in each DataLoader worker, never pickled (pickling one
        # would copy whole episodes into the worker).
        state = self.__dict__.copy()
        state["_open"] = {}
        return state

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(range(self.rank, self.windows_per_epoch, self.world_size))

    def rank_window_ids(self) -> range:
        return range(self.rank, self.windows_per_epoch, self.world_size)

    def locate(self, k: int) -> tuple[int, int]:
        """Window id k of the current epoch -> (index into the eligible episodes, start)."""
        rng = np.random.default_rng([WINDOW_RNG_SALT, self.seed, self.epoch, k])
        flat = int(rng.integers(self.total_windows))
        slot = int(np.searchsorted(self._cumulative_starts, flat, side="right"))
        before = int(self._cumulative_starts[slot - 1]) if slot else 0
        return slot, flat - before

    def window(self, k: int) -> dict[str, Any]:
        slot, start = self.locate(k)
        return self.read(slot, start)

    def read(self, slot: int, start: int) -> dict[str, Any]:
        """Window of the eligible episode ``slot`` starting at frame ``start``."""
        episode = self._episode(slot)
        end = start + self.window_length
        return {
            "frames": np.array(episode["frames"][start:end]),
            "actions": np.array(episode["actions"][start:end]),
            "rewards": np.array(episode["rewards"][start:end], dtype=np.float32),
            "terminated": np.array(episode["terminated"][start:end]),
            "truncated": np.array(episode["truncated"][start:end]),
            "state": {key: np.array(episode[f"state/{key}"][start:end]) for key in self.state_keys},
            "episode": int(self.episode_positions[slot]),
            "start": int(start),
        }

    def _episode(self, slot: int) -> Episode:
        episode = self._open.get(slot)
        if episode is None:
            episode = Episode(self.root / EPISODES_DIRNAME / self._names[slot], mmap=True)
            self._open[slot] = episode
        return episode

    def __getitem__(self, i: int) -> dict[str, Any]:
        ids = self.rank_window_ids()
        return self.window(ids[i])

    def worker_window_ids(self) -> range:
        """This rank's ids, restricted to the current DataLoader worker's share."""
        ids = self.rank_window_ids()
        info = torch.utils.data.get_worker_info()
        if info is None:
            return ids
        return ids[info.id :: info.num_workers]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for k in self.worker_window_ids():
            yield self.window(k)
