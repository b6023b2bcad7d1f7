"""Collector policies: registry, sticky random, maze navigation, explore revisits, retrieval
returning to its start, Crafter gathering, and a Stable-Baselines3 model as collector."""

from __future__ import annotations

import itertools

import gymnasium
import numpy as np
import pytest

from lsswm.collect.errors import PolicyError
from lsswm.collect.maze_nav import cell_of, heading_bin, shortest_path
from lsswm.collect.policies import make_policy, parse_policy_name
from lsswm.collect.revisits import revisit_distances
from lsswm.collect.rollout import make_env, rollout_episode

TOY = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"


def test_policy_names_and_options():
    assert parse_policy_name("retrieval:context=400,noise=0.05") == (
        "retrieval",
        {"context": 400, "noise": 0.05},
    )
    assert parse_policy_name("sb3:/models/a:b.zip") == ("sb3", {"path": "/models/a:b.zip"})
    env = make_env(TOY)
    with pytest.raises(
        PolicyError,
        match="available policies: random, explore, retrieval, lookaround, outback, oracle-mix",
    ):
        make_policy("nope", env)
    with pytest.raises(PolicyError, match="key=value"):
        make_policy("random:0.5", env)
    with pytest.raises(PolicyError, match="stickiness must be in"):
        make_policy("random:stickiness=1.5", env)
    with pytest.raises(PolicyError, match="not found"):
        make_policy("sb3:/nonexistent/model.zip", env)


def test_random_policy_is_sticky_and_reproducible():
    env = make_env(TOY)
    policy = make_policy("random:stickiness=0.9", env)

    def actions(seed):
        obs, info = env.reset(seed=seed)
        policy.reset(seed, obs, info)
        return [policy.act(obs, info) for _ in range(400)]

    a = actions(1)
    assert a == actions(1) and a != actions(2)
    changes = sum(x != y for x, y in itertools.pairwise(a))
    assert changes < 0.2 * len(a)  # runs of repeated actions
    assert set(a) == set(range(5))


def test_random_policy_handles_box_actions():
    env = gymnasium.make("Pendulum-v1")
    policy = make_policy("random", env)
    obs, info = env.reset(seed=0)
    policy.reset(0, obs, info)
    action = policy.act(obs, info)
    assert env.action_space.contains(action)


def test_shortest_path_and_headings():
    layout = np.array(
        [
            [1, 1, 1],
            [0, 0, 1],
            [1, 1, 1],
        ],
        dtype=np.uint8,
    )  # layout[y, x]
    assert shortest_path(layout, (0, 0), (0, 2)) == [
        (0, 0),
        (1, 0),
        (2, 0),
        (2, 1),
        (2, 2),
        (1, 2),
        (0, 2),
    ]
    assert shortest_path(layout, (0, 0), (0, 1)) is None  # a wall
    assert cell_of([2.7, 0.1]) == (2, 0)
    assert [heading_bin(d) for d in ([1, 0], [0, 1], [-1, 0], [0, -1], [1, 0.9])] == [0, 1, 2, 3, 0]


def test_steps_to_goal_counts_path_length_and_turn():
    from lsswm.envs.maze_oracle import CELLS_PER_STEP, RADIANS_PER_TURN_STEP, steps_to_goal

    layout = np.array([[1, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=np.uint8)  # layout[y, x]
    state = {"agent_pos": np.array([0.5, 0.5]), "agent_dir": np.array([1.0, 0.0])}
    state["maze_layout"] = layout
    # Along the top row, then down the right column to (2.5, 2.5): 2 + 2 cells, facing +x.
    assert np.isclose(steps_to_goal(state, np.array([2.5, 2.5])), 4 / CELLS_PER_STEP)
    # Facing away from the first waypoint adds a half turn.
    back = {**state, "agent_dir": np.array([-1.0, 0.0])}
    expected = 4 / CELLS_PER_STEP + np.pi / RADIANS_PER_TURN_STEP
    assert np.isclose(steps_to_goal(back, np.array([2.5, 2.5])), expected)
    assert steps_to_goal(state, np.array([0.5, 1.5])) == float("inf")  # a wall cell


def test_revisit_distance_on_a_known_trajectory():
    # cells along x: A A B B A C A with a constant heading: A is revisited at frames 4 and 6
    xs = [0.5, 0.5, 1.5, 1.5, 0.5, 2.5, 0.5]
    pos = np.array([[x, 0.5] for x in xs])
    heading = np.tile([1.0, 0.0], (len(xs), 1))
    assert revisit_distances(pos, heading).tolist() == [-1, -1, -1, -1, 3, -1, 2]
    heading[6] = [-1.0, 0.0]  # same cell, opposite heading: a different place
    assert revisit_distances(pos, heading).tolist()[6] == -1


@pytest.fixture(scope="module")
def maze_env():
    env = make_env("lsswm/MemoryMaze-9x9-v0")
    yield env
    env.close()


def test_explore_covers_the_maze_and_revisits_beyond_the_window(maze_env):
    policy = make_policy("explore", maze_env, max_steps=300)
    data = rollout_episode(maze_env, policy, seed=3, max_steps=300)
    pos, heading = data.arrays["state/agent_pos"], data.arrays["state/agent_dir"]
    layout = data.arrays["state/maze_layout"][0]
    cells = {cell_of(p) for p in pos}
    assert all(layout[y, x] for x, y in cells)  # never inside a wall
    assert len(cells) > 0.3 * layout.sum()  # drives around, does not dither in place
    distances = revisit_distances(pos, heading)
    assert (distances > 10).sum() > 10  # comes back to places seen long before
    counts = np.bincount(data.arrays["actions"][1:], minlength=6)
    assert counts[1] + counts[4] + counts[5] > 0.4 * 300  # mostly moving forward


def test_lookaround_makes_views_recur_just_beyond_the_window(maze_env):
    policy = make_policy("lookaround", maze_env, max_steps=300)
    data = rollout_episode(maze_env, policy, seed=3, max_steps=300)
    again = rollout_episode(maze_env, make_policy("lookaround", maze_env, 300), 3, 300)
    np.testing.assert_array_equal(data.arrays["actions"], again.arrays["actions"])
    assert data.meta["policy_info"]["spins"] >= 2
    distances = revisit_distances(data.arrays["state/agent_pos"], data.arrays["state/agent_dir"])
    # The second turn of each spin sees each view a turn (about 20 frames) after the first.
    assert ((distances > 10) & (distances <= 30)).sum() > 40
    actions = data.arrays["actions"][1:]
    runs = [len(list(group)) for key, group in itertools.groupby(actions) if key in (2, 3)]
    assert max(runs) >= 40  # two full turns in one direction


def test_outback_returns_through_the_outbound_cells(maze_env):
    policy = make_policy("outback", maze_env, max_steps=300)
    data = rollout_episode(maze_env, policy, seed=4, max_steps=300)
    assert data.meta["policy_info"]["legs"] >= 2
    distances = revisit_distances(data.arrays["state/agent_pos"], data.arrays["state/agent_dir"])
    assert (distances > 10).sum() > 60  # the way back revisits the way out


def test_retrieval_drives_back_to_the_start_cell(maze_env):
    policy = make_policy("retrieval:context=60", maze_env, max_steps=300)
    data = rollout_episode(maze_env, policy, seed=5, max_steps=300)
    info = data.meta["policy_info"]
    pos = data.arrays["state/agent_pos"]
    assert info["return_start_frame"] == 60 and info["returned_frame"] is not None
    assert data.meta["end_reason"] == "policy_done"
    assert len(pos) == info["returned_frame"] + 1  # the episode ends on arrival
    start = tuple(info["start_cell"])
    assert cell_of(pos[0]) == start and cell_of(pos[-1]) == start
    assert cell_of(pos[60]) != start  # it did go somewhere during the context
    context_cells = {tuple(c) for c in info["context_cell_path"]}
    return_cells = {cell_of(p) for p in pos[60:]}
    assert len(return_cells - context_cells) <= 1  # retraces the context path
    assert data.arrays["truncated"][-1]


def test_crafter_gather_changes_the_inventory():
    from lsswm.envs.crafter_env import INVENTORY_KEYS

    env = make_env("lsswm/Crafter-v0")
    policy = make_policy("crafter-gather", env, max_steps=150)
    data = rollout_episode(env, policy, seed=1, max_steps=150)
    inventory = data.arrays["state/inventory"]
    wood = list(INVENTORY_KEYS).index("wood")
    pickaxe = list(INVENTORY_KEYS).index("wood_pickaxe")
    assert inventory[:, wood].max() >= 2
    assert inventory[-1, pickaxe] >= 1  # placed a table and crafted
    achievements = data.arrays["state/achievements"][-1]
    assert achievements.sum() >= 3


def test_sb3_model_as_collector(tmp_path):
    from stable_baselines3 import PPO

    env = make_env(TOY)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, seed=0, device="cpu")
    model.save(tmp_path / "ppo_toy")  # untrained: the point is loading and acting
    policy = make_policy(f"sb3:{tmp_path / 'ppo_toy.zip'}", env, max_steps=30)
    first = rollout_episode(env, policy, seed=1, max_steps=30)
    again = rollout_episode(env, policy, seed=1, max_steps=30)
    other = rollout_episode(env, policy, seed=2, max_steps=30)
    # actions are sampled from the policy, reproducibly per episode seed
    assert np.array_equal(first.arrays["actions"], again.arrays["actions"])
    assert not np.array_equal(first.arrays["actions"], other.arrays["actions"])
    assert first.meta["policy_info"] == {"sb3_algorithm": "PPO"}
    assert len(set(first.arrays["actions"][1:].tolist())) > 1
    box_env = gymnasium.make("Pendulum-v1")
    with pytest.raises(PolicyError, match="acts in Discrete"):
        make_policy(f"sb3:{tmp_path / 'ppo_toy'}", box_env)


def test_sb3_policy_of_smaller_frames_collects_on_resized_frames(tmp_path):
    # A policy trained in imagination sees the world model's frame size (e.g. 32 px for a
    # 64 px env): as a collector it is given the env's frames area-resized to that size.
    import torch
    from stable_baselines3 import PPO

    from lsswm.collect.frames import resize_frames
    from lsswm.collect.policies_sb3 import SB3Policy

    class SmallFrames(gymnasium.Env):
        observation_space = gymnasium.spaces.Box(0, 255, (16, 16, 3), np.uint8)
        action_space = gymnasium.spaces.Discrete(5)

    model = PPO("MlpPolicy", SmallFrames(), n_steps=64, batch_size=32, seed=0, device="cpu")
    model.save(tmp_path / "small")
    env = make_env(TOY)  # 32x32 frames
    policy = SB3Policy(env, str(tmp_path / "small.zip"), deterministic=True)
    episode = rollout_episode(env, policy, seed=3, max_steps=20)
    frames = torch.from_numpy(np.asarray(episode.arrays["frames"]))
    small = resize_frames(frames, 16).numpy()
    assert small.shape[1:] == (16, 16, 3)
    expected = [int(model.predict(frame, deterministic=True)[0]) for frame in small[:-1]]
    assert episode.arrays["actions"][1:].tolist() == expected
    # given the full-size frames instead, the policy would fail: the resize is what makes it act
    with pytest.raises(ValueError):
        model.predict(np.asarray(episode.arrays["frames"][0]), deterministic=True)


def test_revisits_command_writes_a_histogram(tmp_path):
    import json

    from lsswm.cli.main import main
    from lsswm.collect.episode_store import write_episode
    from lsswm.collect.manifest import Manifest

    # a walk up and down a corridor: every return is a revisit 2 * (corridor length) later
    xs = np.r_[np.arange(10), np.arange(9, -1, -1), np.arange(10)] + 0.5
    headings = np.r_[np.ones(10), -np.ones(10), np.ones(10)]
    n = len(xs)
    arrays = {
        "frames": np.zeros((n, 8, 8, 3), np.uint8),
        "actions": np.zeros(n, np.int64),
        "rewards": np.zeros(n, np.float32),
        "terminated": np.zeros(n, bool),
        "truncated": np.zeros(n, bool),
        "state/agent_pos": np.stack([xs, np.full(n, 0.5)], axis=1),
        "state/agent_dir": np.stack([headings, np.zeros(n)], axis=1),
    }
    manifest = Manifest("lsswm/MemoryMaze-9x9-v0", "explore", n - 1, 0, 1)
    manifest.add(write_episode(tmp_path / "d", 0, arrays, {"seed": 0}))
    spec = {key: {"shape": [2], "dtype": "<f8"} for key in ("agent_pos", "agent_dir")}
    manifest.set_env_description((8, 8, 3), {"type": "discrete", "n": 6}, spec)
    manifest.save(tmp_path / "d")
    png, summary_path = tmp_path / "revisits.png", tmp_path / "revisits.json"
    command = ["data", "revisits", str(tmp_path / "d"), "--out", str(png)]
    assert main([*command, "--json", str(summary_path)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(summary_path.read_text())
    assert summary["revisit_frames"] == 10  # the third pass revisits the first one's places
    assert summary["median"] == 20 and summary["fraction_beyond_window"] == 1.0


def test_revisit_histogram_of_a_dataset_without_revisits(tmp_path):
    # Short episodes may never return to a place: the plot must still be written.
    from lsswm.collect.revisits import plot_revisit_histogram, revisit_summary

    distances = np.zeros(0, dtype=np.int64)
    summary = revisit_summary(distances, total_frames=60)
    out = tmp_path / "revisits.png"
    plot_revisit_histogram(distances, summary, out, "no revisits")
    assert summary["median"] is None
    assert out.stat().st_size > 0


def test_oracle_mix_reaches_targets_often_and_is_reproducible(maze_env):
    data = rollout_episode(maze_env, make_policy("oracle-mix", maze_env, 300), 5, 300)
    again = rollout_episode(maze_env, make_policy("oracle-mix", maze_env, 300), 5, 300)
    np.testing.assert_array_equal(data.arrays["actions"], again.arrays["actions"])
    info = data.meta["policy_info"]
    assert info["oracle_legs"] >= 1 and info["explore_legs"] >= 1
    explore = rollout_episode(maze_env, make_policy("explore", maze_env, 300), 5, 300)
    hits = (data.arrays["rewards"] > 0).sum()
    assert hits >= 3 and hits > (explore.arrays["rewards"] > 0).sum()
    with pytest.raises(PolicyError, match="oracle-mix needs prob"):
        make_policy("oracle-mix:prob=2", maze_env)


def test_oracle_mix_wander_legs_push_into_walls(maze_env):
    # Without wander the data holds (almost) no step that pushes forward without moving;
    # with every non-oracle leg a wander leg it holds many, reproducibly, and the oracle legs
    # are the same legs as before (the wander draws come from their own stream).
    def pinned_steps(data) -> int:
        moved = np.linalg.norm(np.diff(data.arrays["state/agent_pos"], axis=0), axis=-1)
        forward = np.isin(data.arrays["actions"][1:], (1, 4, 5))
        return int((forward & (moved < 0.03)).sum())

    plain = rollout_episode(maze_env, make_policy("oracle-mix", maze_env, 300), 5, 300)
    wander = rollout_episode(maze_env, make_policy("oracle-mix:wander=1", maze_env, 300), 5, 300)
    again = rollout_episode(maze_env, make_policy("oracle-mix:wander=1", maze_env, 300), 5, 300)
    np.testing.assert_array_equal(wander.arrays["actions"], again.arrays["actions"])
    info = wander.meta["policy_info"]
    assert info["wander_legs"] >= 1 and info["explore_legs"] == 0
    assert "wander_legs" not in plain.meta["policy_info"]
    assert pinned_steps(wander) > pinned_steps(plain) + 5
    with pytest.raises(PolicyError, match="wander must be in"):
        make_policy("oracle-mix:wander=2", maze_env)
