"""Registration, the cheap package import, `make`'s unknown-id error and `lsswm envs`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest

import lsswm.envs
from lsswm.cli.main import main as lsswm_main
from lsswm.envs import UnknownEnvError, list_envs, make

CONTRACT_IDS = [
    "lsswm/MemoryMaze-9x9-v0",
    "lsswm/MemoryMaze-11x11-v0",
    "lsswm/MemoryMaze-13x13-v0",
    "lsswm/MemoryMaze-15x15-v0",
    "lsswm/MemoryMaze-9x9-ExtraObs-v0",
    "lsswm/MemoryMaze-11x11-ExtraObs-v0",
    "lsswm/MemoryMaze-13x13-ExtraObs-v0",
    "lsswm/MemoryMaze-15x15-ExtraObs-v0",
    "lsswm/Crafter-v0",
    "lsswm/MineRL-Navigate-v0",
]


def test_contract_ids_are_registered_with_gymnasium() -> None:
    for env_id in CONTRACT_IDS:
        assert env_id in list_envs()
        assert env_id in gymnasium.registry
        # Entry points stay strings so that registering imports no simulator.
        assert isinstance(gymnasium.registry[env_id].entry_point, str)


def test_package_import_loads_no_simulator() -> None:
    code = (
        "import sys, lsswm.envs\n"
        "heavy = [m for m in ('mujoco', 'dm_control', 'memory_maze', 'crafter', 'gym', 'minerl',"
        " 'torch') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
    assert "unmaintained" not in result.stderr


def test_unknown_id_lists_lsswm_environments() -> None:
    with pytest.raises(UnknownEnvError) as caught:
        make("lsswm/MemoryMaze-10x10-v0")
    message = str(caught.value)
    assert "'lsswm/MemoryMaze-10x10-v0'" in message
    for env_id in CONTRACT_IDS:
        assert env_id in message
    assert caught.value.user_facing


def test_unknown_id_without_namespace_suggests_the_lsswm_id() -> None:
    with pytest.raises(UnknownEnvError, match=r"did you mean 'lsswm/Crafter-v0'"):
        make("Crafter-v0")


def test_reregistering_is_harmless() -> None:
    before = dict(gymnasium.registry)
    lsswm.envs.register_all()
    assert dict(gymnasium.registry).keys() == before.keys()


def test_envs_command_lists_every_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert lsswm_main(["envs", "--ids"]) == 0
    assert capsys.readouterr().out.split() == list_envs()
    assert lsswm_main(["envs"]) == 0
    table = capsys.readouterr().out
    for env_id in list_envs():
        assert env_id in table
    assert "Discrete(6)" in table and "Discrete(17)" in table and "Discrete(4)" in table


def test_bad_bench_input_is_a_one_line_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert lsswm_main(["bench", "steps", "--steps", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("lsswm: error: --steps 0")
    assert "\n" not in error
    assert lsswm_main(["bench", "steps", "--mazes", "--no-crafter"]) == 2
    assert "nothing to measure" in capsys.readouterr().err


def _check_bench_json(path: Path, groups: list[str]) -> None:
    result = json.loads(path.read_text())
    assert [row["env"] for row in result["results"]] == groups
    for row in result["results"]:
        for role in ("stock", "ours"):
            runs = row[role]["runs_steps_per_s"]
            assert len(runs) == result["repeats"] and all(rate > 0 for rate in runs)
        assert row["speedup"] == pytest.approx(
            row["ours"]["median_steps_per_s"] / row["stock"]["median_steps_per_s"]
        )
    assert result["machine"]["cpu_count"] >= 1


def test_bench_steps_writes_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench" / "steps.json"
    args = ["bench", "steps", "--steps", "3", "--repeats", "2", "--mazes", "--out", str(out)]
    assert lsswm_main(args) == 0
    table = capsys.readouterr().out
    assert "Crafter" in table and "stock steps/s" in table and str(out) in table
    _check_bench_json(out, ["Crafter"])


@pytest.mark.slow
def test_bench_steps_on_memory_maze(tmp_path: Path) -> None:
    out = tmp_path / "steps.json"
    args = ["bench", "steps", "--steps", "3", "--repeats", "1", "--mazes", "9", "--out", str(out)]
    assert lsswm_main([*args, "--no-crafter"]) == 0
    _check_bench_json(out, ["MemoryMaze-9x9"])
