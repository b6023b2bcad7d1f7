"""Set-up and helpers shared by every area's tests: one torch thread, the env checkers, the
tiny world model (its config, and the model with a patchify tokenizer), and the trainers'
data (collect's toy env, collected) and tiny training config."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # MUJOCO_GL must be chosen before anything imports dm_control: a test that imports it first
    # would otherwise make dm_control pick GLFW and every later Memory Maze env fail to render.
    import importlib.util

    from lsswm.envs.legacy_gym import import_gym_quietly
    from lsswm.envs.rendering import configure_headless_gl

    # A machine without MuJoCo (a GPU image running only the CUDA tests, scripts/gpu-check.sh)
    # has no renderer to choose; the env tests there fail at their own import instead.
    if importlib.util.find_spec("mujoco") is not None:
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


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread_for_shared_fixtures() -> Iterator[None]:
    # Module-scoped fixtures (tiny models, envs) are built before any function-scoped fixture.
    with _one_torch_thread():
        yield


@pytest.fixture(autouse=True)
def _single_torch_thread() -> Iterator[None]:
    # The tests use tiny models, for which thread start-up costs more than it saves; on a loaded
    # 2-core machine two threads made an SB3 smoke run 10x slower (two spinning OpenMP threads
    # made a 3 s PPO run take 30 s). Restored after each test.
    with _one_torch_thread():
        yield


def run_env_checkers(
    env: object, gymnasium_checker: bool = True, allowed: Callable[[str], bool] | None = None
) -> None:
    """Gymnasium's and SB3's env checkers on ``env.unwrapped``: they must warn about nothing
    (but the messages ``allowed`` accepts)."""
    from gymnasium.utils.env_checker import check_env as gymnasium_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if gymnasium_checker:
            gymnasium_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped)
    messages = [str(w.message) for w in caught if "env_checker" in w.filename]
    unexpected = [m for m in messages if allowed is None or not allowed(m)]
    assert unexpected == [], unexpected


@pytest.fixture
def env_checkers() -> Callable[..., None]:
    """run_env_checkers, for tests: ``env_checkers(env)``."""
    return run_env_checkers


# The tiny world model of the tests: a 4x4 latent grid, two layers, chunks of 3 frames, a
# 4-frame window; fast on a CPU, yet every variant has all its sub-layers.
TINY_WORLD_MODEL = dict(
    latent_height=4,
    latent_width=4,
    latent_channels=3,
    d_model=32,
    n_layers=2,
    n_heads=2,
    ssm_head_dim=16,
    ssm_state_size=8,
    ssm_scan_chunk=8,
    chunk_size=3,
    window_frames=4,
)


def make_tiny_config(variant: str = "hybrid", **changes: object) -> object:
    """The tests' tiny WorldModelConfig of ``variant``, with ``changes`` applied."""
    from lsswm.worldmodel.config import WorldModelConfig

    return WorldModelConfig(variant=variant, **{**TINY_WORLD_MODEL, **changes})


@pytest.fixture
def tiny_config() -> Callable[..., object]:
    """make_tiny_config, for tests: ``tiny_config("hybrid", chunk_size=5)``."""
    return make_tiny_config


def make_tiny_frame_model(
    variant: str = "hybrid",
    *,
    image_size: int = 32,
    grid: int = 4,
    action_size: int = 5,
    pose: bool = False,
    seed: int = 0,
    **changes: object,
) -> object:
    """The tiny world model of make_tiny_config with random weights (from ``seed``) behind a
    patchify tokenizer: ``image_size`` frames on a ``grid`` x ``grid`` latent grid, and
    ``action_size`` discrete actions, or the 4-vector poses of ``data.actions=pose`` when
    ``pose``. A FrameWorldModel in eval mode; ``changes`` go to the config."""
    import torch

    from lsswm.worldmodel.frame_model import FrameWorldModel
    from lsswm.worldmodel.model import WorldModel
    from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig

    patch = image_size // grid
    tokenizer = Tokenizer(TokenizerConfig(kind="patchify", image_size=image_size, downsample=patch))
    height, width, channels = tokenizer.config.latent_shape
    actions = (
        {"action_kind": "continuous", "action_size": 4} if pose else {"action_size": action_size}
    )
    latents = {"latent_height": height, "latent_width": width, "latent_channels": channels}
    config = make_tiny_config(variant, **latents, **actions, **changes)
    torch.manual_seed(seed)
    return FrameWorldModel(WorldModel(config), tokenizer).eval()


@pytest.fixture(scope="session")
def tiny_frame_model() -> Callable[..., object]:
    """make_tiny_frame_model, for tests (any scope): ``tiny_frame_model(image_size=64)``."""
    return make_tiny_frame_model


# ---- the trainers' data and configuration ----------------------------------------------------
TOY_ENV = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"  # 32x32 frames, 5 actions, no MuJoCo
QUIET_TRAINING = ("log.progress=false", "system.threads=1")


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The trainers' test data, as DreamerV3 tests on one dummy env: 3 episodes of 30 random
    steps of collect's toy grid world, recorded by collect's own collector. (Tests of
    data.actions=pose take worldmodel/train/synthetic.py's dataset: the toy env has no
    Memory Maze poses.)"""
    from lsswm.collect.collector import CollectConfig, collect

    out = tmp_path_factory.mktemp("toy") / "grid"
    collect(CollectConfig(TOY_ENV, 3, 30, "random", str(out), progress=False))
    return out


def make_tiny_train_config(dataset: object, run_dir: object, *overrides: str) -> object:
    """The tiny preset on ``dataset`` in ``run_dir``: two short curriculum stages (6 frames x 3
    steps, then 8 x 2, batch 2), quiet, one thread; ``overrides`` are ``--set`` values."""
    from lsswm.worldmodel.train.config import apply_overrides, train_preset

    base = [f"data.path={dataset}", f"run_dir={run_dir}", "curriculum=6:3:2,8:2:2"]
    return apply_overrides(train_preset("tiny"), [*base, *QUIET_TRAINING, *overrides])


@pytest.fixture(scope="session")
def tiny_train_config() -> Callable[..., object]:
    """make_tiny_train_config, for tests: ``tiny_train_config(data, run_dir, "seed=1")``."""
    return make_tiny_train_config
