"""The collector: parallel, resumable, deterministic; survives SIGKILL; refuses mismatches."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lsswm.collect.collector import CollectConfig, collect
from lsswm.collect.dataset import open_dataset, verify_dataset
from lsswm.collect.episode_store import EPISODES_DIRNAME
from lsswm.collect.errors import DatasetError, PolicyError

TOY = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"
TOY_SLOW = "lsswm.collect.toy_env:lsswm-toy/ToyGridSlow-v0"
REPO = Path(__file__).resolve().parents[1]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def toy_config(out: Path, **overrides) -> CollectConfig:
    fields = dict(env_id=TOY, episodes=5, steps=30, policy="random", out=str(out), progress=False)
    fields.update(overrides)
    return CollectConfig(**fields)


def test_parallel_collection_matches_serial_byte_for_byte(tmp_path):
    serial = collect(toy_config(tmp_path / "serial", workers=1))
    collect(toy_config(tmp_path / "parallel", workers=2))
    assert sorted(serial.collected) == list(range(5))
    assert tree_bytes(tmp_path / "serial") == tree_bytes(tmp_path / "parallel")
    dataset = open_dataset(tmp_path / "serial")
    assert [r.seed for r in dataset.records] == [0, 1, 2, 3, 4]
    episode = dataset[0]
    assert episode["frames"].shape == (31, 32, 32, 3)
    assert episode["actions"][0] == 0 and episode["rewards"][0] == 0
    assert episode["truncated"][-1] and not episode["truncated"][:-1].any()
    assert episode.meta["end_reason"] == "step_cap"
    assert dataset.manifest.action_space == {"type": "discrete", "n": 5}
    assert dataset.manifest.state_spec["agent_pos"] == {"shape": [2], "dtype": "<i8"}


def test_state_and_actions_are_aligned_per_frame(tmp_path):
    # toy env: the agent moves by ACTION_MOVES[action]; frame t's position must follow from
    # frame t-1's position and actions[t] (the action that led to frame t).
    from lsswm.collect.toy_env import ACTION_MOVES

    collect(toy_config(tmp_path, episodes=1, steps=40))
    episode = open_dataset(tmp_path)[0]
    pos, actions = episode["state/agent_pos"], episode["actions"]
    for t in range(1, len(pos)):
        expected = (pos[t - 1] + ACTION_MOVES[actions[t]]).clip(0, 7)
        assert (pos[t] == expected).all()


def test_seed_base_changes_the_data(tmp_path):
    collect(toy_config(tmp_path / "a", episodes=1))
    collect(toy_config(tmp_path / "b", episodes=1, seed_base=100))
    a, b = open_dataset(tmp_path / "a")[0], open_dataset(tmp_path / "b")[0]
    assert b.meta["seed"] == 100
    assert not (a["frames"] == b["frames"]).all()


def test_resume_keeps_valid_redoes_corrupt_and_missing(tmp_path):
    reference = tmp_path / "reference"
    collect(toy_config(reference))
    out = tmp_path / "out"
    collect(toy_config(out))
    episodes = out / EPISODES_DIRNAME
    frames = episodes / "ep_000001" / "frames.npy"
    frames.write_bytes(frames.read_bytes()[:-10])
    import shutil

    shutil.rmtree(episodes / "ep_000003")
    (episodes / ".tmp-ep_000004-0000").mkdir()  # a leftover of an interrupted write
    summary = collect(toy_config(out))
    assert sorted(summary.collected) == [1, 3]
    assert summary.kept == 3 and "ep_000001" in summary.redone
    assert verify_dataset(out).ok
    assert tree_bytes(out) == tree_bytes(reference)
    assert collect(toy_config(out)).collected == []  # complete: nothing to do


def test_growing_a_dataset_equals_collecting_it_at_once(tmp_path):
    collect(toy_config(tmp_path / "once", episodes=4))
    collect(toy_config(tmp_path / "grown", episodes=2))
    collect(toy_config(tmp_path / "grown", episodes=4))
    assert tree_bytes(tmp_path / "once") == tree_bytes(tmp_path / "grown")


def test_mismatched_rerun_is_refused(tmp_path):
    collect(toy_config(tmp_path, episodes=1))
    for change in ({"steps": 31}, {"policy": "random:stickiness=0.5"}, {"seed_base": 3}):
        with pytest.raises(DatasetError, match="pass the same arguments"):
            collect(toy_config(tmp_path, episodes=1, **change))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a dataset")
    with pytest.raises(DatasetError, match="no manifest\\.json"):
        collect(toy_config(other))


def test_bad_policy_and_env_errors_are_user_facing(tmp_path):
    with pytest.raises(PolicyError, match="available policies: random, explore"):
        collect(toy_config(tmp_path / "a", policy="wander"))
    with pytest.raises(PolicyError, match="drives Memory Maze's 6 discrete actions"):
        collect(toy_config(tmp_path / "b", policy="explore", episodes=1))
    with pytest.raises(PolicyError, match="bad options"):
        collect(toy_config(tmp_path / "c", policy="random:speed=2", episodes=1))
    # a first run that recorded nothing does not lock the folder to its settings
    assert collect(toy_config(tmp_path / "c", episodes=1)).collected == [0]
    from lsswm.envs import UnknownEnvError

    with pytest.raises(UnknownEnvError, match="did you mean 'lsswm/Crafter-v0'"):
        collect(toy_config(tmp_path / "d", env_id="lsswm/Crafter-v9"))
    assert not (tmp_path / "d").exists()


def test_spawn_start_method_gives_the_same_bytes(tmp_path):
    collect(toy_config(tmp_path / "fs", episodes=2, workers=2))
    collect(toy_config(tmp_path / "sp", episodes=2, workers=2, start_method="spawn"))
    assert tree_bytes(tmp_path / "fs") == tree_bytes(tmp_path / "sp")


def run_collect_cli(out: Path, env_id: str, episodes: int, steps: int, policy: str, workers: int):
    command = [
        sys.executable, "-m", "lsswm.cli.main", "collect", "--env", env_id,
        "--episodes", str(episodes), "--steps", str(steps), "--policy", policy,
        "--workers", str(workers), "--out", str(out),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


class OutputWatcher:
    """Reads a process's output in the background; knows the live env-step count of its bar."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.text = ""
        self.thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            self.text += chunk.decode(errors="replace")

    @property
    def live_steps(self) -> int:
        counts = re.findall(r"(\d+) env steps", self.text)
        return int(counts[-1]) if counts else 0


def finished_episodes(out: Path) -> list[str]:
    folder = out / EPISODES_DIRNAME
    return sorted(p.name for p in folder.glob("ep_*")) if folder.is_dir() else []


def process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def sigkill_and_resume(
    tmp_path, env_id, episodes, steps, policy, workers, timeout, kill_after=0, kill_at_steps=0
):
    """Kill -9 the driver (only the driver) mid-way, re-run, compare with an uninterrupted run.

    The kill comes once ``kill_after`` episodes are finished and the progress bar shows
    ``kill_at_steps`` env steps.
    """
    reference = tmp_path / "reference"
    collect(CollectConfig(env_id, episodes, steps, policy, str(reference), workers, progress=False))
    out = tmp_path / "killed"
    process = run_collect_cli(out, env_id, episodes, steps, policy, workers)
    watcher = OutputWatcher(process)
    deadline = time.monotonic() + timeout
    while len(finished_episodes(out)) < kill_after or watcher.live_steps < kill_at_steps:
        assert process.poll() is None, watcher.text
        assert time.monotonic() < deadline, "collection too slow to reach the kill point"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Workers notice the driver is gone and exit by themselves (nothing else was killed).
    deadline = time.monotonic() + 10
    while process_group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_group_alive(process.pid), "worker processes outlived the killed driver"
    interrupted = finished_episodes(out)
    assert kill_after <= len(interrupted) < episodes, interrupted
    report = verify_dataset(out)  # whatever is there is valid or ignored, never wrong
    assert not report.invalid and not report.missing
    resumed = run_collect_cli(out, env_id, episodes, steps, policy, workers)
    output = resumed.communicate(timeout=timeout)[0].decode()
    assert resumed.returncode == 0, output
    assert verify_dataset(out).ok and len(verify_dataset(out).valid) == episodes
    assert tree_bytes(out) == tree_bytes(reference)
    return interrupted


def test_sigkill_mid_collection_then_resume_is_byte_identical(tmp_path):
    sigkill_and_resume(tmp_path, TOY_SLOW, 12, 40, "random", 2, timeout=60, kill_after=3)


@pytest.mark.slow
def test_sigkill_memory_maze_two_workers(tmp_path):
    # The acceptance run: 2 Memory Maze episodes x 300 steps x 2 workers, killed
    # while both episodes are in flight (150 of 600 env steps done).
    sigkill_and_resume(
        tmp_path, "lsswm/MemoryMaze-9x9-v0", 2, 300, "explore", 2, timeout=600, kill_at_steps=150
    )


@pytest.mark.slow  # starting a local Ray instance takes 8-16 s on 2 shared cores
def test_ray_backend_writes_the_same_dataset(tmp_path):
    pytest.importorskip("ray", reason="the [distributed] extra (ray) is not installed")
    collect(toy_config(tmp_path / "local", episodes=4, workers=2))
    summary = collect(toy_config(tmp_path / "ray", episodes=4, workers=2, backend="ray"))
    assert sorted(summary.collected) == [0, 1, 2, 3]
    assert tree_bytes(tmp_path / "ray") == tree_bytes(tmp_path / "local")
