"""Session-wide set-up shared by every area's tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # MUJOCO_GL must be chosen before anything imports dm_control: a test that imports it first
    # would otherwise make dm_control pick GLFW and every later Memory Maze env fail to render.
    from lsswm.envs.legacy_gym import import_gym_quietly
    from lsswm.envs.rendering import configure_headless_gl

    configure_headless_gl()
    import_gym_quietly()


@pytest.fixture(autouse=True, scope="session")
def _private_checksum_cache(tmp_path_factory):
    # Datasets opened by train/eval remember verified files in $LSSWM_CACHE_DIR: keep the
    # tests' entries out of the user's ~/.cache.
    import os

    previous = os.environ.get("LSSWM_CACHE_DIR")
    os.environ["LSSWM_CACHE_DIR"] = str(tmp_path_factory.mktemp("lsswm-cache"))
    yield
    if previous is None:
        os.environ.pop("LSSWM_CACHE_DIR", None)
    else:
        os.environ["LSSWM_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def _single_torch_thread():
    # The tests use tiny models, for which thread start-up costs more than it saves; on a loaded
    # 2-core machine two threads made an SB3 smoke run 10x slower. Restored after each test.
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
