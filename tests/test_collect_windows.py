"""WindowDataset: window contents, determinism, DDP x DataLoader-worker sharding."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from lsswm.collect.dataset import open_dataset
from lsswm.collect.episode_store import write_episode
from lsswm.collect.errors import DatasetError
from lsswm.collect.manifest import Manifest
from lsswm.collect.windows import WindowDataset


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    """Episodes of different lengths (one shorter than the windows used below)."""
    root = tmp_path_factory.mktemp("windows")
    manifest = Manifest("toy", "random", 60, 0, 4)
    rng = np.random.default_rng(0)
    for index, steps in enumerate([60, 25, 5, 40]):
        n = steps + 1
        arrays = {
            "frames": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
            "actions": rng.integers(0, 4, n),
            "rewards": rng.random(n).astype(np.float32),
            "terminated": np.zeros(n, bool),
            "truncated": np.zeros(n, bool),
            "state/frame_index": np.arange(n),
            "state/pos": rng.random((n, 2)),
        }
        manifest.add(write_episode(root, index, arrays, {"seed": index}))
    spec = {"frame_index": {"shape": [], "dtype": "<i8"}, "pos": {"shape": [2], "dtype": "<f8"}}
    manifest.set_env_description((8, 8, 3), {"type": "discrete", "n": 4}, spec)
    manifest.save(root)
    return root


def ids_of(items) -> list[tuple[int, int]]:
    return [(item["episode"], item["start"]) for item in items]


def test_window_equals_the_episode_slice(dataset_root):
    ds = WindowDataset(dataset_root, 16, seed=3)
    episodes = open_dataset(dataset_root)
    for item in list(ds)[:20]:
        episode = episodes[item["episode"]]
        s = slice(item["start"], item["start"] + 16)
        assert item["frames"].shape == (16, 8, 8, 3) and item["frames"].dtype == np.uint8
        assert np.array_equal(item["frames"], episode["frames"][s])
        assert np.array_equal(item["actions"], episode["actions"][s])
        assert item["actions"].dtype == np.int64 and item["rewards"].dtype == np.float32
        assert np.array_equal(item["rewards"], episode["rewards"][s])
        assert item["terminated"].dtype == bool
        assert np.array_equal(item["state"]["frame_index"], np.arange(s.start, s.stop))
        assert item["state"]["pos"].shape == (16, 2)


def test_short_episodes_are_skipped_and_windows_cover_all_starts(dataset_root):
    ds = WindowDataset(dataset_root, 16, seed=0, windows_per_epoch=4000)
    seen = Counter(ids_of(ds))
    assert {episode for episode, _ in seen} == {0, 1, 3}  # episode 2 has only 6 frames
    starts = {e: {s for ep, s in seen if ep == e} for e in (0, 1, 3)}
    assert starts[0] == set(range(61 - 16 + 1))
    assert starts[1] == set(range(26 - 16 + 1))
    assert starts[3] == set(range(41 - 16 + 1))
    per_start = np.array(list(seen.values()))
    assert per_start.min() > 0.3 * per_start.mean()  # roughly uniform over start positions


def test_same_seed_same_windows_and_epochs_differ(dataset_root):
    a = ids_of(WindowDataset(dataset_root, 10, seed=5))
    b = ids_of(WindowDataset(dataset_root, 10, seed=5))
    c = ids_of(WindowDataset(dataset_root, 10, seed=6))
    assert a == b and a != c
    ds = WindowDataset(dataset_root, 10, seed=5)
    ds.set_epoch(1)
    assert ids_of(ds) != a
    assert len(a) == (61 + 26 + 41) // 10  # default: about one pass over eligible frames


def test_ranks_partition_the_epoch(dataset_root):
    full = WindowDataset(dataset_root, 8, seed=1, windows_per_epoch=30)
    everything = [full.locate(k) for k in range(full.windows_per_epoch)]
    shards = [
        WindowDataset(dataset_root, 8, seed=1, rank=r, world_size=3, windows_per_epoch=30)
        for r in range(3)
    ]
    ids = [set(shard.rank_window_ids()) for shard in shards]
    assert set().union(*ids) == set(range(30))
    assert all(not (ids[i] & ids[j]) for i in range(3) for j in range(i + 1, 3))
    assert [len(shard) for shard in shards] == [10, 10, 10]
    union = sorted(ids_of(item for shard in shards for item in shard))
    assert union == sorted((int(full.episode_positions[slot]), start) for slot, start in everything)


def test_dataloader_workers_split_a_rank_without_overlap(dataset_root):
    ds = WindowDataset(dataset_root, 8, seed=2, rank=1, world_size=2, windows_per_epoch=40)
    expected = ids_of(ds)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    got = []
    for batch in loader:
        assert batch["frames"].dtype == torch.uint8 and batch["frames"].shape[1:] == (8, 8, 8, 3)
        assert batch["actions"].dtype == torch.int64
        assert batch["state"]["pos"].shape == (len(batch["episode"]), 8, 2)
        got += list(zip(batch["episode"].tolist(), batch["start"].tolist(), strict=True))
    assert sorted(got) == sorted(expected)  # every window once, none twice


def test_indexing_matches_iteration_and_state_key_selection(dataset_root):
    ds = WindowDataset(dataset_root, 12, seed=4, state_keys=["pos"])
    items = list(ds)
    assert ids_of([ds[i] for i in range(len(ds))]) == ids_of(items)
    assert list(items[0]["state"]) == ["pos"]
    with pytest.raises(DatasetError, match="not in the dataset"):
        WindowDataset(dataset_root, 12, state_keys=["nope"])


def test_bad_windows_are_user_errors(dataset_root):
    with pytest.raises(DatasetError, match="longest: 61"):
        WindowDataset(dataset_root, 62)
    with pytest.raises(DatasetError, match="rank"):
        WindowDataset(dataset_root, 8, rank=2, world_size=2)


def test_episode_subset_for_splits(dataset_root):
    ds = WindowDataset(dataset_root, 8, episodes=[1], windows_per_epoch=50)
    assert {item["episode"] for item in ds} == {1}
