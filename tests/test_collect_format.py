"""Dataset format: atomic episode writes, checksums, verify, manifest and the open API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lsswm.collect.dataset import open_dataset, summarize_dataset, verify_dataset
from lsswm.collect.episode_store import (
    EPISODES_DIRNAME,
    Episode,
    find_episode_problems,
    remove_stale_temp,
    write_episode,
)
from lsswm.collect.errors import DatasetError
from lsswm.collect.fileio import atomic_write_json
from lsswm.collect.manifest import Manifest, describe_action_space, load_manifest


def make_arrays(steps: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = steps + 1
    actions = rng.integers(0, 6, n)
    actions[0] = 0
    return {
        "frames": rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8),
        "actions": actions,
        "rewards": rng.random(n).astype(np.float32),
        "terminated": np.zeros(n, bool),
        "truncated": np.eye(1, n, n - 1, dtype=bool)[0],
        "state/agent_pos": rng.random((n, 2)),
        "state/maze_layout": rng.integers(0, 2, (n, 5, 5), dtype=np.uint8),
    }


def make_dataset(root: Path, episodes: int = 3, steps: int = 20) -> Manifest:
    manifest = Manifest("toy", "random", steps, 0, episodes)
    for index in range(episodes):
        arrays = make_arrays(steps, index)
        manifest.add(write_episode(root, index, arrays, {"seed": index, "env_id": "toy"}))
    manifest.set_env_description(
        (16, 16, 3),
        {"type": "discrete", "n": 6},
        {
            "agent_pos": {"shape": [2], "dtype": "<f8"},
            "maze_layout": {"shape": [5, 5], "dtype": "|u1"},
        },
    )
    manifest.save(root)
    return manifest


def test_episode_round_trip_is_exact_and_memory_mapped(tmp_path):
    arrays = make_arrays()
    record = write_episode(tmp_path, 7, arrays, {"seed": 7})
    assert record.name == "ep_000007" and record.length == 20
    episode = Episode(tmp_path / EPISODES_DIRNAME / record.name)
    for key, value in arrays.items():
        assert np.array_equal(episode[key], value)
        assert episode[key].dtype == value.dtype
    assert isinstance(episode["frames"], np.memmap)
    assert sorted(episode.state) == ["agent_pos", "maze_layout"]
    assert episode.meta["seed"] == 7 and episode.meta["num_frames"] == 21
    assert not find_episode_problems(episode.folder)


def test_rewriting_an_episode_is_byte_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_episode(a, 0, make_arrays(), {"seed": 0})
    write_episode(b, 0, make_arrays(steps=5), {"seed": 1})
    write_episode(b, 0, make_arrays(), {"seed": 0})  # replaces the first version
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_inconsistent_arrays_are_refused(tmp_path):
    arrays = make_arrays()
    arrays["rewards"] = arrays["rewards"][:-1]
    with pytest.raises(DatasetError, match="rows"):
        write_episode(tmp_path, 0, arrays, {"seed": 0})
    arrays = make_arrays()
    arrays["frames"] = arrays["frames"].astype(np.float32)
    with pytest.raises(DatasetError, match="uint8"):
        write_episode(tmp_path, 0, arrays, {"seed": 0})
    arrays = make_arrays()
    arrays["state/../evil"] = arrays["rewards"]
    with pytest.raises(DatasetError, match="not allowed"):
        write_episode(tmp_path, 0, arrays, {"seed": 0})
    # nothing half-written is left behind
    assert not list(tmp_path.rglob("*.npy"))


def test_verify_names_truncated_and_corrupted_episodes(tmp_path):
    make_dataset(tmp_path, episodes=4)
    assert verify_dataset(tmp_path).ok
    episodes = tmp_path / EPISODES_DIRNAME
    frames = episodes / "ep_000001" / "frames.npy"
    frames.write_bytes(frames.read_bytes()[:-100])  # truncated
    rewards = episodes / "ep_000002" / "rewards.npy"
    data = bytearray(rewards.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte, same size
    rewards.write_bytes(bytes(data))
    (episodes / "ep_000003" / "state" / "agent_pos.npy").unlink()
    report = verify_dataset(tmp_path)
    assert not report.ok
    assert report.valid == ["ep_000000"]
    assert "truncated" in report.invalid["ep_000001"][0]
    assert "sha256 mismatch" in report.invalid["ep_000002"][0]
    assert "missing" in report.invalid["ep_000003"][0]


def test_verify_catches_an_edited_episode_json_and_missing_folders(tmp_path):
    make_dataset(tmp_path, episodes=3)
    meta_path = tmp_path / EPISODES_DIRNAME / "ep_000000" / "episode.json"
    meta = json.loads(meta_path.read_text())
    meta["seed"] = 99
    meta_path.write_text(json.dumps(meta))
    import shutil

    shutil.rmtree(tmp_path / EPISODES_DIRNAME / "ep_000002")
    report = verify_dataset(tmp_path)
    assert "checksum differs from the manifest" in report.invalid["ep_000000"][0]
    assert report.missing == ["ep_000002"]


def test_cli_verify_exit_code_and_names(tmp_path, capsys):
    from lsswm.cli.main import main

    make_dataset(tmp_path, episodes=2)
    assert main(["data", "verify", str(tmp_path)]) == 0
    frames = tmp_path / EPISODES_DIRNAME / "ep_000001" / "frames.npy"
    frames.write_bytes(frames.read_bytes()[:50])
    assert main(["data", "verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "INVALID ep_000001" in out and "truncated" in out


def test_leftover_temp_folders_are_ignored_and_removed(tmp_path):
    make_dataset(tmp_path, episodes=1)
    leftover = tmp_path / EPISODES_DIRNAME / ".tmp-ep_000001-deadbeef"
    leftover.mkdir()
    (leftover / "frames.npy").write_bytes(b"partial")
    assert len(open_dataset(tmp_path)) == 1
    report = verify_dataset(tmp_path)
    assert report.ok and report.leftovers == [leftover.name]
    assert remove_stale_temp(tmp_path) == [leftover.name]
    assert not leftover.exists()


def test_manifest_round_trip_is_deterministic(tmp_path):
    manifest = make_dataset(tmp_path, episodes=2)
    text = (tmp_path / "manifest.json").read_text()
    loaded = load_manifest(tmp_path)
    assert loaded.to_json() == manifest.to_json()
    loaded.save(tmp_path)
    assert (tmp_path / "manifest.json").read_text() == text
    fields = json.loads(text)
    for key in ("format_version", "env_id", "policy", "steps", "seed_base", "image_shape"):
        assert key in fields
    assert fields["action_space"] == {"type": "discrete", "n": 6}
    assert fields["complete"] is True and fields["num_frames"] == 42


def test_unknown_format_version_is_refused(tmp_path):
    make_dataset(tmp_path, episodes=1)
    path = tmp_path / "manifest.json"
    atomic_write_json(path, {**json.loads(path.read_text()), "format_version": 99})
    with pytest.raises(DatasetError, match="format_version 99"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="not an lsswm dataset"):
        open_dataset(tmp_path / "nowhere")


def test_action_space_descriptions():
    import gymnasium

    assert describe_action_space(gymnasium.spaces.Discrete(6)) == {"type": "discrete", "n": 6}
    box = describe_action_space(gymnasium.spaces.Box(-1, 1, (2,), np.float32))
    assert box == {"type": "box", "shape": [2], "low": [-1.0, -1.0], "high": [1.0, 1.0]}
    with pytest.raises(DatasetError):
        describe_action_space(gymnasium.spaces.MultiBinary(3))


def test_info_counts_actions_without_the_null_action(tmp_path, capsys):
    make_dataset(tmp_path, episodes=2, steps=10)
    summary = summarize_dataset(tmp_path)
    dataset = open_dataset(tmp_path)
    expected = np.zeros(6, int)
    for episode in dataset:
        expected += np.bincount(episode["actions"][1:], minlength=6)
    assert summary["action_histogram"] == expected.tolist()
    assert summary["episodes"] == 2 and summary["frames"] == 22
    assert summary["bytes_on_disk"] > 22 * 16 * 16 * 3
    from lsswm.cli.main import main

    assert main(["data", "info", str(tmp_path)]) == 0
    assert "episodes       2 of 2" in capsys.readouterr().out


def test_info_reports_the_reward_rate(tmp_path, capsys):
    make_dataset(tmp_path, episodes=2, steps=10)
    dataset = open_dataset(tmp_path)
    events = sum(int(np.count_nonzero(episode["rewards"])) for episode in dataset)
    summary = summarize_dataset(tmp_path)
    assert summary["reward_frames"] == events
    assert summary["rewards_per_1000_frames"] == pytest.approx(1000 * events / 22)
    from lsswm.cli.main import main

    assert main(["data", "info", str(tmp_path)]) == 0
    assert f"reward rate    {1000 * events / 22:.2f} per 1000 frames" in capsys.readouterr().out
