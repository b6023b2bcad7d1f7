"""Memory Maze as a Gymnasium env: checkers, seeding, state, actions, truncation, PPO smoke.

Each task build costs ~1.5 s and each reset ~1.3 s, so tests share envs where they can.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from lsswm.envs import EnvError, InvalidActionError, make
from lsswm.envs.memory_maze import DISCRETE_ACTION_VECTORS, MemoryMazeEnv

ACTIONS = np.random.default_rng(5).integers(6, size=20)


@pytest.fixture(scope="module")
def maze() -> Iterator[MemoryMazeEnv]:
    env = MemoryMazeEnv(9, render_mode="rgb_array")
    yield env
    env.close()


@pytest.fixture(scope="module")
def twin() -> Iterator[MemoryMazeEnv]:
    env = MemoryMazeEnv(9)
    yield env
    env.close()


def _play(env: MemoryMazeEnv, seed: int | None) -> tuple[np.ndarray, list[dict]]:
    frame, info = env.reset(seed=seed)
    frames, states = [frame], [info["state"]]
    for action in ACTIONS:
        frame, _, _, _, info = env.step(action)
        frames.append(frame)
        states.append(info["state"])
    return np.stack(frames), states


def _assert_states_equal(a: list[dict], b: list[dict]) -> None:
    for state_a, state_b in zip(a, b, strict=True):
        for key in state_a:
            np.testing.assert_array_equal(state_a[key], state_b[key], err_msg=key)


# ---- seeding and state ---------------------------------------------------------------------


def test_seeding_reproduces_episodes(maze: MemoryMazeEnv, twin: MemoryMazeEnv) -> None:
    # Two envs, same seed: byte-identical frames and states.
    reference, reference_states = _play(maze, seed=11)
    frames, states = _play(twin, seed=11)
    assert reference.dtype == np.uint8 and reference.shape == (21, 64, 64, 3)
    assert np.array_equal(frames, reference)
    _assert_states_equal(states, reference_states)
    assert maze.seed_in_use == 11
    _assert_state_conventions(maze, reference_states)
    # Our documented action table is memory_maze's (its outermost dm_env wrapper holds it).
    np.testing.assert_array_equal(np.stack(maze._task.dm_env.action_set), DISCRETE_ACTION_VECTORS)

    # reset() without a seed continues the seed's episode stream, deterministically.
    next_a, next_states_a = _play(maze, seed=None)
    next_b, next_states_b = _play(twin, seed=None)
    assert np.array_equal(next_a, next_b)
    _assert_states_equal(next_states_a, next_states_b)
    assert not np.array_equal(next_a, reference)  # a new maze, not a replay

    # reset(seed) after other episodes replays episode 0; the same seed rewinds the built task.
    builds = maze.task_builds
    replay, replay_states = _play(maze, seed=11)
    assert maze.task_builds == builds
    assert np.array_equal(replay, reference)
    _assert_states_equal(replay_states, reference_states)

    # A new seed builds a new task with a different episode.
    builds = twin.task_builds
    other, _ = _play(twin, seed=12)
    assert twin.task_builds == builds + 1
    assert not np.array_equal(other, reference)


def _assert_state_conventions(env: MemoryMazeEnv, states: list[dict]) -> None:
    assert set(env.state_spec) == {
        "agent_pos", "agent_dir", "target_color", "target_pos", "targets_pos", "maze_layout",
        "target_index",
    }  # fmt: skip
    assert env.state_spec["targets_pos"][0] == (3, 2)
    assert env.state_spec["maze_layout"][0] == (9, 9)
    for state in states:
        assert state.keys() == env.state_spec.keys()
        for key, (shape, dtype) in env.state_spec.items():
            assert state[key].shape == shape, key
            assert state[key].dtype == dtype, key
        layout = state["maze_layout"]
        assert set(np.unique(layout)) <= {0, 1}
        x, y = state["agent_pos"]
        assert layout[int(y), int(x)] == 1  # the agent stands on a free cell: layout[y, x]
        for tx, ty in state["targets_pos"]:
            assert layout[int(ty), int(tx)] == 1
        np.testing.assert_array_equal(
            state["target_pos"], state["targets_pos"][state["target_index"]]
        )
        assert np.isclose(np.linalg.norm(state["agent_dir"]), 1.0)


def test_bad_seed_is_rejected() -> None:
    with pytest.raises(EnvError, match=r"seed=-1 .*\[0, 4294967296\)"):
        MemoryMazeEnv(9).reset(seed=-1)


def test_render_returns_the_current_frame(maze: MemoryMazeEnv) -> None:
    if maze._needs_reset:
        maze.reset(seed=11)
    frame, *_ = maze.step(1)
    rendered = maze.render()
    assert np.array_equal(rendered, frame)
    rendered[:] = 0  # a copy: the env's frame is not affected
    assert np.array_equal(maze.render(), frame)


def test_render_before_reset_is_a_clear_error() -> None:
    with pytest.raises(EnvError, match="reset"):
        MemoryMazeEnv(9, render_mode="rgb_array").render()


# ---- actions -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [6, -1, 1.0, "forward", True, np.array([1, 2]), None])
def test_invalid_discrete_action_is_a_clear_error(maze: MemoryMazeEnv, action: object) -> None:
    if maze._needs_reset:
        maze.reset(seed=11)
    with pytest.raises(InvalidActionError, match=r"integers 0-5 \(0 noop, 1 forward"):
        maze.step(action)


def test_numpy_integer_actions_are_accepted(maze: MemoryMazeEnv, twin: MemoryMazeEnv) -> None:
    # A NumPy integer action steps exactly like the Python int it holds.
    maze.reset(seed=11)
    twin.reset(seed=11)
    for action, same in ((np.int64(1), 1), (np.array(2), 2), (np.array([3], dtype=np.int32), 3)):
        frame, reward, terminated, truncated, info = maze.step(action)
        twin_frame, twin_reward, *ends, twin_info = twin.step(same)
        assert maze.observation_space.contains(frame)
        np.testing.assert_array_equal(frame, twin_frame)
        assert (reward, terminated, truncated) == (twin_reward, *ends)
        np.testing.assert_array_equal(info["state"]["agent_pos"], twin_info["state"]["agent_pos"])


def test_continuous_actions_truncation_and_top_camera() -> None:
    env = MemoryMazeEnv(
        9, continuous_actions=True, episode_steps=5, top_camera=True, top_camera_size=96
    )
    try:
        assert env.action_space.shape == (2,)
        _, info = env.reset(seed=4)
        assert info["top_camera"].shape == (96, 96, 3) and info["top_camera"].dtype == np.uint8
        for bad in ([2.0, 0.0], [0.0], [np.nan, 0.0], 1):
            with pytest.raises(InvalidActionError, match=r"\[roll, steer\] in \[-1, 1\]"):
                env.step(bad)
        start, heading = info["state"]["agent_pos"], info["state"]["agent_dir"]
        for step in range(1, 6):
            _, _, terminated, truncated, info = env.step(np.array([-1.0, 0.0], dtype=np.float32))
            assert not terminated
            assert truncated == (step == 5)
        assert info["top_camera"].shape == (96, 96, 3)
        # roll -1 drives forward, i.e. along agent_dir (unless a wall stops the ball at once).
        moved = info["state"]["agent_pos"] - start
        assert moved @ heading > 0.1 or np.linalg.norm(moved) < 0.05
        with pytest.raises(EnvError, match="reset"):
            env.step(np.zeros(2))
    finally:
        env.close()


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(EnvError, match=r"use one of \[9, 11, 13, 15\]"):
        MemoryMazeEnv(10)
    with pytest.raises(EnvError, match="episode_steps"):
        MemoryMazeEnv(9, episode_steps=0)
    with pytest.raises(EnvError, match="render_mode"):
        MemoryMazeEnv(9, render_mode="human")


# ---- checkers and SB3 ------------------------------------------------------------------------


def _shape_advice(message: str) -> bool:
    # SB3 only advises flattening the 2-D state arrays (maze_layout, targets_pos) of ExtraObs;
    # their shapes are the contract, and MultiInputPolicy flattens them itself.
    return "unconventional shape" in message and (
        "maze_layout" in message or "targets_pos" in message
    )


@pytest.mark.parametrize(
    "env_id",
    [
        "lsswm/MemoryMaze-9x9-v0",
        pytest.param("lsswm/MemoryMaze-9x9-ExtraObs-v0", marks=pytest.mark.slow),
    ],
)
def test_env_checkers_pass(env_checkers, env_id: str) -> None:
    env = make(env_id, render_mode="rgb_array")
    try:
        env_checkers(env, gymnasium_checker=True, allowed=_shape_advice)
    finally:
        env.close()


def test_sb3_checker_and_observation_layout_on_extra_obs(env_checkers) -> None:
    env = make("lsswm/MemoryMaze-9x9-ExtraObs-v0", render_mode="rgb_array")
    try:
        env_checkers(env, gymnasium_checker=False, allowed=_shape_advice)
        observation, info = env.reset(seed=0)  # SB3's checker used seed 0: a rewind, no build
        assert env.observation_space.contains(observation)
        assert set(observation) == {"image", *env.unwrapped.state_spec}
        for key, value in info["state"].items():
            np.testing.assert_array_equal(observation[key], value)
    finally:
        env.close()


def test_ppo_smoke_run_on_images(maze: MemoryMazeEnv) -> None:
    from stable_baselines3 import PPO

    # The shared env: PPO's unseeded resets continue its episode stream (no task build).
    model = PPO("CnnPolicy", maze, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=192)
    assert model.num_timesteps >= 192
    action, _ = model.predict(maze.reset()[0])
    assert maze.action_space.contains(int(action))


@pytest.mark.slow
def test_ppo_smoke_run_on_extra_obs() -> None:
    from stable_baselines3 import PPO

    env = make("lsswm/MemoryMaze-9x9-ExtraObs-v0", episode_steps=100)
    try:
        model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
        model.learn(total_timesteps=192)
        assert model.num_timesteps >= 192
    finally:
        env.close()


@pytest.mark.slow
def test_episodes_can_run_longer_than_the_native_limit() -> None:
    env = MemoryMazeEnv(9, episode_steps=1005)
    try:
        env.reset(seed=3)
        for step in range(1, 1006):
            _, _, terminated, truncated, _ = env.step(1)
            assert not terminated
            assert truncated == (step == 1005), step
    finally:
        env.close()


@pytest.mark.slow
@pytest.mark.parametrize("size", [11, 13, 15])
def test_larger_mazes_have_their_sizes(size: int) -> None:
    env = make(f"lsswm/MemoryMaze-{size}x{size}-ExtraObs-v0")
    try:
        observation, info = env.reset(seed=0)
        n_targets = {11: 4, 13: 5, 15: 6}[size]
        assert observation["maze_layout"].shape == (size, size)
        assert info["state"]["targets_pos"].shape == (n_targets, 2)
        assert env.unwrapped.native_episode_steps == {11: 2000, 13: 3000, 15: 4000}[size]
    finally:
        env.close()
