"""Bad input and faults on the data side (issue 14): each case names the problem and the fix.

docs/reliability.md lists every case with the test that covers it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from lsswm.cli.main import main
from lsswm.collect.collector import CollectConfig, collect
from lsswm.collect.dataset import open_dataset, verify_dataset
from lsswm.collect.episode_store import EPISODES_DIRNAME, write_episode
from lsswm.collect.errors import DatasetError, PolicyError
from lsswm.collect.manifest import Manifest, load_manifest
from lsswm.collect.windows import WindowDataset

TOY = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"


def toy_collect(out: Path, episodes: int = 4, **overrides) -> Path:
    fields = dict(env_id=TOY, episodes=episodes, steps=12, policy="random", out=str(out))
    collect(CollectConfig(**{**fields, "progress": False, **overrides}))
    return out


def edit_manifest(root: Path, edit) -> None:
    path = root / "manifest.json"
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))


def age_files(root: Path, seconds: float = 60.0) -> None:
    """Make every file look written a while ago (the checksum cache skips fresh files)."""
    past = time.time() - seconds
    for path in Path(root).rglob("*"):
        os.utime(path, (past, past))


def flip_byte(path: Path, offset: int = -1) -> None:
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- silently wrong ------------------------------------------------------------------------


def test_manifest_with_a_string_length_is_refused_everywhere(tmp_path, capsys):
    root = toy_collect(tmp_path / "data")
    edit_manifest(root, lambda m: m["episodes"][1].update(length="12"))
    for command in (["data", "verify"], ["data", "info"]):
        code, _, err = run([*command, str(root)], capsys)
        assert code == 2
        assert "episodes[1].length is '12' (str), expected an integer >= 0" in err
        assert f"lsswm data repair {root}" in err and "Traceback" not in err
    with pytest.raises(DatasetError, match="not a valid lsswm manifest"):
        WindowDataset(root, 4)


def test_manifest_action_count_edited_is_caught_by_verify_and_open(tmp_path, capsys):
    root = toy_collect(tmp_path / "data")  # ToyGrid has 5 actions
    edit_manifest(root, lambda m: m["action_space"].update(n=17))
    code, out, _ = run(["data", "verify", str(root)], capsys)
    assert code == 1
    assert (
        "MANIFEST manifest action space is Discrete(17), episode.json records Discrete(5) "
        "(ep_000000, ep_000001, ep_000002, ep_000003)"
    ) in out
    assert f"lsswm data repair {root}" in out
    with pytest.raises(DatasetError, match=r"episode\.json records Discrete"):
        WindowDataset(root, 4)
    code, _, err = run(["train", "--data", str(root), "--preset", "tiny"], capsys)
    assert code == 2 and "episode.json records" in err
    # Repair restores the action space the episodes recorded.
    assert main(["data", "repair", str(root)]) == 0
    assert load_manifest(root).action_space == {"type": "discrete", "n": 5}
    assert verify_dataset(root).complete


def test_action_space_smaller_than_the_actions_is_caught_without_episode_metadata(tmp_path):
    # Datasets written before episode.json recorded the action space: the actions' range.
    rng = np.random.default_rng(0)
    manifest = Manifest("toy", "random", 10, 0, 1)
    arrays = {
        "frames": rng.integers(0, 256, (11, 8, 8, 3), dtype=np.uint8),
        "actions": np.arange(11) % 6,
        "rewards": np.zeros(11, np.float32),
        "terminated": np.zeros(11, bool),
        "truncated": np.zeros(11, bool),
    }
    manifest.add(write_episode(tmp_path, 0, arrays, {"seed": 0}))
    manifest.set_env_description((8, 8, 3), {"type": "discrete", "n": 4}, {})
    manifest.save(tmp_path)
    with pytest.raises(DatasetError, match=r"actions range over 0\.\.5, outside the manifest's 4"):
        open_dataset(tmp_path)
    assert any("outside the manifest" in p for p in verify_dataset(tmp_path).manifest_problems)


def test_flipped_byte_is_caught_when_train_opens_the_dataset(tmp_path, monkeypatch):
    from lsswm.collect import integrity

    root = toy_collect(tmp_path / "data")
    age_files(root)
    hashed = []
    real = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: hashed.append(p) or real(p))
    WindowDataset(root, 4)  # hashes every array once ...
    assert len(hashed) == 4 * 8  # 5 core arrays + 3 state arrays per episode
    hashed.clear()
    WindowDataset(root, 4)  # ... and remembers them
    assert hashed == []
    flip_byte(root / EPISODES_DIRNAME / "ep_000002" / "frames.npy")
    with pytest.raises(DatasetError, match=r"ep_000002 \(frames: sha256 mismatch"):
        WindowDataset(root, 4)
    with pytest.raises(DatasetError, match="lsswm data verify"):
        open_dataset(root, check="checksums")
    assert hashed == [root / EPISODES_DIRNAME / "ep_000002" / "frames.npy"] * 2
    # The documented opt-out: file checks only.
    monkeypatch.setenv("LSSWM_DATA_CHECKSUMS", "0")
    assert len(WindowDataset(root, 4).episode_positions) == 4


def test_flipped_byte_is_caught_by_eval_on_a_dataset(tmp_path):
    from lsswm.eval.episodes import dataset_episodes
    from lsswm.eval.errors import EvalError

    root = toy_collect(tmp_path / "data")
    flip_byte(root / EPISODES_DIRNAME / "ep_000000" / "actions.npy")
    with pytest.raises(EvalError, match=r"ep_000000 \(actions: sha256 mismatch"):
        dataset_episodes(root, "reasoning", context=4, generate=4)


def test_eval_says_when_it_evaluates_fewer_episodes_and_refuses_bad_ranges(tmp_path, capsys):
    from lsswm.eval.episodes import dataset_episodes
    from lsswm.eval.errors import EvalError

    root = toy_collect(tmp_path / "data")
    found = dataset_episodes(root, "reasoning", context=4, generate=4, episodes=10)
    assert len(found) == 4
    err = capsys.readouterr().err
    assert "--episodes 10 asked for more episodes" in err and "evaluating only 4" in err
    with pytest.raises(EvalError, match="must be >= 1, got 0"):
        dataset_episodes(root, "reasoning", context=4, generate=4, episodes=0)
    with pytest.raises(EvalError, match=r"--first-episode 7 is outside .* holds 4 episodes"):
        dataset_episodes(root, "reasoning", context=4, generate=4, first=7)
    empty = toy_collect(tmp_path / "empty", episodes=0)
    with pytest.raises(EvalError, match="holds no episodes"):
        dataset_episodes(empty, "reasoning", context=4, generate=4)


def test_verify_fails_on_an_incomplete_dataset_and_names_the_missing(tmp_path, capsys):
    root = toy_collect(tmp_path / "data", episodes=1)
    edit_manifest(root, lambda m: m.update(episodes_requested=4, complete=False))
    code, out, _ = run(["data", "verify", str(root)], capsys)
    assert code == 1
    assert "NOT COLLECTED ep_000001, ep_000002, ep_000003" in out
    assert "1 valid, 0 invalid or missing, 3 not collected" in out


# ---- crashes partway through a run --------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_truncated_or_deleted_npy_is_named_at_open(tmp_path, capsys, damage):
    root = toy_collect(tmp_path / "data")
    frames = root / EPISODES_DIRNAME / "ep_000001" / "frames.npy"
    if damage == "truncate":
        frames.write_bytes(frames.read_bytes()[:-100])
        expected = "frames: truncated"
    else:
        frames.unlink()
        expected = "frames: file missing"
    with pytest.raises(DatasetError, match=rf"ep_000001 \({expected}"):
        WindowDataset(root, 4)
    code, _, err = run(["train", "--data", str(root), "--preset", "tiny"], capsys)
    assert code == 2 and "Traceback" not in err
    assert expected in err and "lsswm data verify" in err and "lsswm data repair" in err


def test_full_disk_while_writing_an_episode(tmp_path, monkeypatch, capsys):
    from lsswm.collect import collector, episode_store
    from lsswm.collect.worker import EpisodeWorker

    def in_process(config, job, indices, on_result, on_live_steps):
        worker = EpisodeWorker(job)
        for index in indices:
            on_result(worker.collect_episode(index))

    written = []

    def save_npy(path, array):
        if len(written) >= 8:  # the second episode's file system fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        return real_save(path, array)

    real_save = episode_store.save_npy
    monkeypatch.setattr(collector, "run_backend", in_process)
    monkeypatch.setattr(episode_store, "save_npy", save_npy)
    out = tmp_path / "data"
    argv = ["collect", "--env", TOY, "--episodes", "3", "--steps", "12", "--no-progress"]
    code, _, err = run([*argv, "--out", str(out)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "no space left on device writing" in err and "ep_000001" in err
    assert "needs about" in err and "bytes free" in err
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
    assert [r.name for r in load_manifest(out).records] == ["ep_000000"]


def test_full_disk_while_writing_the_manifest(tmp_path, monkeypatch, capsys):
    from lsswm.collect import fileio

    real_write = fileio.write_text

    def write_text(path, text, fsync=False):
        if Path(path).name.startswith(".tmp-manifest.json"):
            with open(path, "w") as handle:
                handle.write(text[:10])  # a partial temp file, as a real ENOSPC leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, text, fsync)

    monkeypatch.setattr(fileio, "write_text", write_text)
    out = tmp_path / "data"
    argv = ["collect", "--env", TOY, "--episodes", "1", "--steps", "5", "--no-progress"]
    code, _, err = run([*argv, "--out", str(out)], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"no space left on device writing {out / 'manifest.json'}" in err
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]


def test_out_that_is_a_file_and_bad_video_episodes(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    argv = ["collect", "--env", TOY, "--episodes", "1", "--steps", "5", "--no-progress"]
    code, _, err = run([*argv, "--out", str(a_file)], capsys)
    assert code == 2 and "is an existing file, not a folder" in err
    code, _, err = run(["data", "import-teco", str(tmp_path), str(a_file)], capsys)
    assert code == 2 and "is an existing file, not a folder" in err
    root = toy_collect(tmp_path / "data")
    code, _, err = run(["data", "video", str(root), "--episodes", "99", "--out", "v.gif"], capsys)
    assert code == 2 and "--episodes 99" in err and "positions 0..3" in err
    code, _, err = run(["data", "video", str(root), "--out", str(a_file / "v.gif")], capsys)
    assert code == 2 and "is a file, not a folder" in err
    code, _, err = run(["data", "info", str(a_file)], capsys)
    assert code == 2 and "is a file, not a dataset folder" in err


def test_empty_dataset_is_named_as_such(tmp_path, capsys):
    root = toy_collect(tmp_path / "empty", episodes=0)
    with pytest.raises(DatasetError, match="holds no episodes"):
        WindowDataset(root, 4)
    code, _, err = run(["train", "--data", str(root), "--preset", "tiny"], capsys)
    assert code == 2 and "holds no episodes" in err and "shape ()" not in err
    assert main(["data", "info", str(root)]) == 0


@pytest.mark.parametrize("policy", ["crafter-gather", "sb3:missing.zip"])
def test_incompatible_policy_fails_before_anything_is_written(tmp_path, policy):
    out = tmp_path / "data"
    with pytest.raises(PolicyError):
        toy_collect(out, policy=policy)
    assert not out.exists()


# ---- circular advice ----------------------------------------------------------------------


def test_repair_rebuilds_a_garbage_manifest_and_collection_resumes(tmp_path, capsys):
    reference = toy_collect(tmp_path / "reference")
    root = toy_collect(tmp_path / "data")
    (root / "manifest.json").write_text("{ this is not json")
    code, _, err = run(["data", "verify", str(root)], capsys)
    assert code == 2 and f"lsswm data repair {root}" in err and "re-run" not in err
    frames = root / EPISODES_DIRNAME / "ep_000002" / "frames.npy"
    frames.write_bytes(frames.read_bytes()[:-1])
    code, out, _ = run(["data", "repair", str(root)], capsys)
    assert code == 0
    assert "DROPPED ep_000002: frames: truncated" in out
    assert "3 valid episodes" in out and "1 of 4 requested episodes are missing" in out
    assert (root / "dropped-by-repair" / "ep_000002").is_dir()
    report = verify_dataset(root)
    assert report.ok and report.valid == ["ep_000000", "ep_000001", "ep_000003"]
    assert report.not_collected == ["ep_000002"]
    toy_collect(root)  # the same command resumes and redoes the dropped episode
    shutil.rmtree(root / "dropped-by-repair")
    assert (root / "manifest.json").read_bytes() == (reference / "manifest.json").read_bytes()


def test_deleted_manifest_points_to_repair_not_to_a_new_folder(tmp_path, capsys):
    root = toy_collect(tmp_path / "data")
    (root / "manifest.json").unlink()
    with pytest.raises(DatasetError, match=f"lsswm data repair {root}"):
        toy_collect(root)
    assert main(["data", "repair", str(root)]) == 0
    assert verify_dataset(root).complete
    assert toy_collect(root) == root


def test_eval_refuses_episodes_of_another_environment(tmp_path):
    """A model trained on one env, evaluated on a dataset of another whose frames and action
    ids happen to fit, is refused before anything runs (it used to score PSNR 10.98)."""
    import json as _json

    import numpy as _np

    from lsswm.eval.episodes import EvalEpisode
    from lsswm.eval.errors import EvalError
    from lsswm.eval.generation import LoadedModel, check_same_environment
    from lsswm.worldmodel.checkpoint import META_ACTION_SPACE
    from lsswm.worldmodel.train.synthetic import write_synthetic_dataset

    trained = write_synthetic_dataset(tmp_path / "maze", env_id="lsswm/MemoryMaze-9x9-v0")
    other = write_synthetic_dataset(tmp_path / "crafter", env_id="lsswm/Crafter-v0")
    metadata = {
        "train_config": _json.dumps({"data": {"path": str(trained)}}),
        META_ACTION_SPACE: _json.dumps({"type": "discrete", "n": 5}),
    }
    loaded = LoadedModel(model=None, path="ckpt.safetensors", name="m", metadata=metadata)
    frames = _np.zeros((4, 32, 32, 3), _np.uint8)
    episode = EvalEpisode("e", frames, _np.zeros(4, _np.int64), 2, source=str(other))
    with pytest.raises(
        EvalError, match=r"trained on lsswm/MemoryMaze-9x9-v0 but .*holds lsswm/Crafter"
    ):
        check_same_environment(loaded, [episode])
    same = EvalEpisode("e", frames, _np.zeros(4, _np.int64), 2, source=str(trained))
    check_same_environment(loaded, [same])  # its own environment passes
    metadata[META_ACTION_SPACE] = _json.dumps({"type": "discrete", "n": 17})
    with pytest.raises(EvalError, match="trained with actions"):
        check_same_environment(loaded, [same])
