"""No "Gym has been unmaintained" banner: every path into memory_maze, crafter or
stable_baselines3 (which all `import gym`) goes through envs.legacy_gym.import_gym_quietly."""

from __future__ import annotations

import subprocess
import sys

import pytest

BANNER = "Gym has been unmaintained"


@pytest.mark.parametrize(
    "code",
    [
        "import lsswm.envs as e; e.make('lsswm/MemoryMaze-9x9-v0').close()",
        "import lsswm.envs as e; e.make('lsswm/Crafter-v0').close()",
        "import lsswm.agents.imagination_env",
        "import lsswm.agents.train_imagination as t; t._progress_callback(1, False)",
        "from lsswm.envs.legacy_gym import import_gym_quietly as q; q(); import stable_baselines3",
    ],
)
def test_no_gym_banner(code):
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert BANNER not in done.stderr + done.stdout


def test_the_banner_exists_without_the_guard():
    # The test above can fail: a bare `import stable_baselines3` prints it.
    done = subprocess.run(
        [sys.executable, "-c", "import stable_baselines3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert BANNER in done.stderr
