"""Imports (Memory Maze offline .npz, TECO .mp4 + .npz) and the lossless Minari export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsswm.collect.dataset import open_dataset, verify_dataset
from lsswm.collect.errors import DatasetError


def write_memory_maze_npz(path: Path, frames: int = 31, seed: int = 0) -> dict[str, np.ndarray]:
    """One trajectory in the official offline layout (keys and shapes as memory-maze ships)."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 6, frames)
    one_hot = np.eye(6, dtype=np.uint8)[actions]
    one_hot[0] = 0  # no action led to the first frame
    targets = rng.uniform(0, 9, (3, 2))
    current = rng.integers(0, 3, frames)
    data = {
        "image": rng.integers(0, 256, (frames, 64, 64, 3), dtype=np.uint8),
        "action": one_hot,
        "reward": np.r_[0.0, rng.integers(0, 2, frames - 1)].astype(np.float32),
        "maze_layout": np.tile(rng.integers(0, 2, (1, 9, 9), dtype=np.uint8), (frames, 1, 1)),
        "agent_pos": rng.uniform(0, 9, (frames, 2)),
        "agent_dir": rng.normal(size=(frames, 2)),
        "targets_pos": np.tile(targets, (frames, 1, 1)),
        "targets_vec": rng.normal(size=(frames, 3, 2)),
        "target_pos": targets[current],
        "target_vec": rng.normal(size=(frames, 2)),
        "target_color": rng.random((frames, 3)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    data["actions"] = actions
    data["current"] = current
    return data


def test_import_memory_maze_offline_layout(tmp_path):
    source = tmp_path / "memory-maze-9x9"
    originals = [write_memory_maze_npz(source / "train" / f"{i:05d}.npz", seed=i) for i in range(2)]
    originals.append(write_memory_maze_npz(source / "eval" / "00000.npz", seed=9))
    out = tmp_path / "dataset"
    from lsswm.cli.main import main

    assert main(["data", "import-memory-maze", str(source), str(out)]) == 0
    dataset = open_dataset(out)
    assert dataset.env_id == "lsswm/MemoryMaze-9x9-v0"
    assert dataset.action_space == {"type": "discrete", "n": 6}
    assert dataset.manifest.policy == "import:memory-maze-offline"
    assert verify_dataset(out).ok and len(dataset) == 3
    # sorted path order: eval/00000 first, then train/00000, train/00001
    order = [originals[2], originals[0], originals[1]]
    for episode, original in zip(dataset, order, strict=True):
        assert np.array_equal(episode["frames"], original["image"])
        expected_actions = original["actions"].copy()
        expected_actions[0] = 0
        assert np.array_equal(episode["actions"], expected_actions)
        assert np.array_equal(episode["rewards"], original["reward"])
        assert episode["truncated"][-1] and not episode["terminated"].any()
        assert np.array_equal(episode["state/agent_pos"], original["agent_pos"])
        assert episode["state/maze_layout"].dtype == np.uint8
        assert np.array_equal(episode["state/targets_vec"], original["targets_vec"])
        assert np.array_equal(episode["state/target_index"], original["current"])
    assert dataset[0].meta["source_file"] == "eval/00000.npz"
    # re-running the import keeps what is there and changes nothing
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert main(["data", "import-memory-maze", str(source), str(out)]) == 0
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def test_import_memory_maze_refuses_foreign_npz(tmp_path):
    from lsswm.collect.import_memory_maze import import_memory_maze

    (tmp_path / "src").mkdir()
    np.savez(tmp_path / "src" / "x.npz", a=np.zeros(3))
    with pytest.raises(DatasetError, match="not a Memory Maze offline trajectory"):
        import_memory_maze(tmp_path / "src", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing written for a failed first conversion
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no memory-maze-offline trajectories"):
        import_memory_maze(tmp_path / "empty", tmp_path / "out2", progress=False)


def write_teco_pair(stem: Path, frames: int, actions: np.ndarray, seed: int) -> np.ndarray:
    """NAME.mp4 + NAME.npz; returns the decoded frames (mp4 is lossy)."""
    import imageio_ffmpeg

    rng = np.random.default_rng(seed)
    video = np.zeros((frames, 64, 64, 3), np.uint8)
    for t in range(frames):  # smooth content so h264 keeps it recognisable
        video[t, :, :, 0] = (t * 8) % 256
        video[t, 16:48, 16:48, 1] = rng.integers(100, 200)
    stem.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(
        str(stem.with_suffix(".mp4")), (64, 64), fps=10, macro_block_size=16
    )
    writer.send(None)
    for frame in video:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    np.savez(stem.with_suffix(".npz"), actions=actions)
    from lsswm.collect.import_teco import decode_mp4

    return decode_mp4(stem.with_suffix(".mp4"))


def test_import_teco_pairs(tmp_path):
    source = tmp_path / "minecraft" / "train"
    rng = np.random.default_rng(0)
    actions_a = rng.integers(0, 4, 12)  # as many actions as frames
    actions_b = rng.integers(0, 4, 9)  # one fewer than frames
    decoded_a = write_teco_pair(source / "a", 12, actions_a, 0)
    decoded_b = write_teco_pair(source / "b", 10, actions_b, 1)
    assert decoded_a.shape == (12, 64, 64, 3)
    out = tmp_path / "dataset"
    from lsswm.cli.main import main

    assert main(["data", "import-teco", str(tmp_path / "minecraft"), str(out)]) == 0
    dataset = open_dataset(out)
    assert dataset.env_id == "teco/minecraft" and dataset.action_space["n"] == 4
    a, b = dataset[0], dataset[1]
    assert np.array_equal(a["frames"], decoded_a)  # stored exactly as decoded
    assert a["actions"][0] == 0 and np.array_equal(a["actions"][1:], actions_a[1:])
    assert np.array_equal(b["frames"], decoded_b)
    assert np.array_equal(b["actions"], np.r_[0, actions_b])
    assert verify_dataset(out).ok


def test_import_teco_errors(tmp_path):
    from lsswm.collect.import_teco import import_teco

    source = tmp_path / "src"
    write_teco_pair(source / "a", 6, np.zeros(3, int), 0)
    with pytest.raises(DatasetError, match="3 actions for 6 video frames"):
        import_teco(source, tmp_path / "out", progress=False)
    np.savez(source / "lonely.npz", actions=np.zeros(4, int))
    (source / "a.npz").unlink()
    with pytest.raises(DatasetError, match=r"no video lonely\.mp4"):
        import_teco(source, tmp_path / "out2", progress=False)


def test_minari_export_round_trip(tmp_path):
    minari = pytest.importorskip("minari", reason="the [export] extra (minari) is not installed")
    pytest.importorskip("h5py", reason="the [export] extra (minari[hdf5]) is not installed")
    from lsswm.collect.collector import CollectConfig, collect
    from lsswm.collect.export_minari import export_minari

    root = tmp_path / "dataset"
    env = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"
    collect(CollectConfig(env, 2, 15, "random", str(root), progress=False))
    exported = export_minari(root, "lsswm/toy-roundtrip-v0", minari_root=tmp_path / "minari")
    assert exported.storage.metadata.get("jpeg_encoding") is False
    loaded = minari.load_dataset("lsswm/toy-roundtrip-v0")
    ours = open_dataset(root)
    assert loaded.total_episodes == 2
    for episode, theirs in zip(ours, loaded.iterate_episodes(), strict=True):
        assert np.array_equal(theirs.observations, episode["frames"])  # lossless
        assert np.array_equal(theirs.actions, episode["actions"][1:])
        assert np.array_equal(theirs.rewards, episode["rewards"][1:])
        assert np.array_equal(theirs.truncations, episode["truncated"][1:])
        assert np.array_equal(theirs.infos["state"]["agent_pos"], episode["state/agent_pos"])
    with pytest.raises(DatasetError, match="already exists"):
        export_minari(root, "lsswm/toy-roundtrip-v0", minari_root=tmp_path / "minari")
