"""lsswm/Crafter-v0: Gymnasium API, info/state, seeding, checkers, PPO smoke."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from lsswm.envs import EnvError, InvalidActionError, make
from lsswm.envs.crafter_env import (
    ACHIEVEMENT_KEYS,
    ACTION_NAMES,
    INVENTORY_KEYS,
    CrafterEnv,
    worldgen_uses_numba,
)

ACTIONS = np.random.default_rng(3).integers(17, size=60)


@pytest.fixture(scope="module")
def crafter_env() -> Iterator[CrafterEnv]:
    env = CrafterEnv(render_mode="rgb_array")
    yield env
    env.close()


def _play(env: CrafterEnv, seed: int | None) -> tuple[np.ndarray, list[dict]]:
    frame, info = env.reset(seed=seed)
    frames, infos = [frame], [info]
    for action in ACTIONS:
        frame, _, terminated, truncated, info = env.step(action)
        frames.append(frame)
        infos.append(info)
        assert not (terminated or truncated)
    return np.stack(frames), infos


def test_spaces_and_names() -> None:
    env = CrafterEnv()
    assert env.observation_space.shape == (64, 64, 3) and env.observation_space.dtype == np.uint8
    assert env.action_space.n == 17 == len(ACTION_NAMES)
    assert ACTION_NAMES[0] == "noop" and ACTION_NAMES[5] == "do"
    assert len(INVENTORY_KEYS) == 16 and INVENTORY_KEYS[:4] == ("health", "food", "drink", "energy")
    assert len(ACHIEVEMENT_KEYS) == 22 and list(ACHIEVEMENT_KEYS) == sorted(ACHIEVEMENT_KEYS)


def test_seeding_reproduces_worlds(crafter_env: CrafterEnv) -> None:
    other = CrafterEnv()
    reference, infos = _play(crafter_env, seed=5)
    frames, _ = _play(other, seed=5)
    assert reference.shape == (61, 64, 64, 3) and reference.dtype == np.uint8
    assert np.array_equal(frames, reference)
    # reset() continues the seed's world stream deterministically, with a new world.
    next_a, _ = _play(crafter_env, seed=None)
    next_b, _ = _play(other, seed=None)
    assert np.array_equal(next_a, next_b)
    assert not np.array_equal(next_a, reference)
    # reset(seed) after other episodes replays the first world.
    replay, replay_infos = _play(crafter_env, seed=5)
    assert np.array_equal(replay, reference)
    for a, b in zip(infos, replay_infos, strict=True):
        for key in a["state"]:
            np.testing.assert_array_equal(a["state"][key], b["state"][key])
    different, _ = _play(other, seed=6)
    assert not np.array_equal(different[0], reference[0])


def test_info_carries_inventory_achievements_position_and_state(crafter_env: CrafterEnv) -> None:
    _, infos = _play(crafter_env, seed=5)
    for info in infos:
        assert set(info) >= {"inventory", "achievements", "player_pos", "state"}
        state = info["state"]
        assert state.keys() == crafter_env.state_spec.keys()
        for key, (shape, dtype) in crafter_env.state_spec.items():
            assert state[key].shape == shape and state[key].dtype == dtype, key
        assert state["inventory"].tolist() == [info["inventory"][k] for k in INVENTORY_KEYS]
        assert state["achievements"].tolist() == [
            info["achievements"][k] > 0 for k in ACHIEVEMENT_KEYS
        ]
        np.testing.assert_array_equal(state["player_pos"], info["player_pos"])
    assert infos[0]["state"]["player_pos"].tolist() == [32, 32]  # crafter spawns at the centre
    assert infos[0]["state"]["inventory"][0] == 9  # full health at the start


def test_episode_end_is_truncation_and_step_after_it_is_an_error() -> None:
    env = CrafterEnv(episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    with pytest.raises(EnvError, match="reset"):
        env.step(0)


@pytest.mark.parametrize("action", [17, -1, 2.0, "do", False, None])
def test_invalid_action_is_a_clear_error(crafter_env: CrafterEnv, action: object) -> None:
    crafter_env.reset(seed=5)
    with pytest.raises(InvalidActionError, match=r"integers 0-16 \(0 noop, 1 move_left"):
        crafter_env.step(action)


def test_render_returns_the_current_frame(crafter_env: CrafterEnv) -> None:
    frame, _ = crafter_env.reset(seed=5)
    assert np.array_equal(crafter_env.render(), frame)
    frame, *_ = crafter_env.step(1)
    assert np.array_equal(crafter_env.render(), frame)


def test_worldgen_uses_numba() -> None:
    pytest.importorskip("numba", reason="numba (a dependency) is not installed")
    assert worldgen_uses_numba()


def test_env_checkers_pass(env_checkers) -> None:
    env_checkers(make("lsswm/Crafter-v0", render_mode="rgb_array"))


def test_ppo_smoke_run() -> None:
    from stable_baselines3 import PPO

    env = make("lsswm/Crafter-v0")
    model = PPO("CnnPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256


def _hashed_random_episode(seed: int, steps: int) -> tuple[int, str]:
    import hashlib

    env = make("lsswm/Crafter-v0")
    env.reset(seed=seed)
    rng = np.random.default_rng(0)
    digest = hashlib.sha256()
    length = 0
    while length < steps:
        frame, _, terminated, truncated, _ = env.step(int(rng.integers(17)))
        digest.update(frame.tobytes())
        length += 1
        if terminated or truncated:
            break
    env.close()
    return length, digest.hexdigest()


def test_same_seed_same_episode_whatever_the_memory_layout():
    # Stock crafter picks the creature to despawn from a set ordered by memory address; with
    # other objects allocated in between, the same seed used to give different episodes.
    first = _hashed_random_episode(seed=3, steps=250)
    ballast = [object() for _ in range(5000)]
    second = _hashed_random_episode(seed=3, steps=250)
    assert len(ballast) == 5000
    assert first == second
