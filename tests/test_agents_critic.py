"""Value beyond the planner's horizon: lambda returns, the critic in the planner, training."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lsswm.agents.critic import lambda_returns, load_critic
from lsswm.agents.planner import Planner
from lsswm.agents.planner_config import PlannerConfig
from lsswm.agents.standin import LEFT, RIGHT, KnownRewardStandIn


def tiny_data_and_model(tmp_path, tiny_frame_model, episodes: int, steps: int):
    """A synthetic 16-px dataset (Memory Maze-like state arrays) and a tiny 6-action model
    checkpoint that fits it."""
    from lsswm.worldmodel.checkpoint import save_world_model
    from lsswm.worldmodel.train.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", episodes=episodes, steps=steps, image_size=16)
    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, tiny_frame_model(image_size=16, action_size=6, chunk_size=2))
    return data, ckpt


def test_lambda_returns_by_hand():
    rewards = torch.tensor([[0.0, 1.0, 0.0, 2.0]])
    values = torch.tensor([[5.0, 6.0, 7.0, 8.0]])
    alive = torch.ones(1, 4)
    # lambda = 1: discounted rewards after the frame, bootstrapped with the last value.
    full = lambda_returns(rewards, alive, values, discount=0.5, lambda_=1.0)
    g2 = 2.0 + 0.5 * 8.0
    g1 = 0.0 + 0.5 * g2
    g0 = 1.0 + 0.5 * g1
    assert torch.allclose(full, torch.tensor([[g0, g1, g2]]))
    # lambda = 0: one-step TD targets.
    td = lambda_returns(rewards, alive, values, discount=0.5, lambda_=0.0)
    assert torch.allclose(td, torch.tensor([[1.0 + 0.5 * 6.0, 0.0 + 0.5 * 7.0, 2.0 + 0.5 * 8.0]]))
    # A certain termination cuts the bootstrap.
    ended = lambda_returns(rewards, torch.tensor([[1.0, 0.0, 1.0, 1.0]]), values, 0.5, 1.0)
    assert ended[0, 0] == 1.0


def test_critic_makes_a_reward_beyond_the_horizon_worth_seeking():
    # The only reward is 6 cells away; the horizon is 2, so every sequence scores 0 without
    # a value. A critic that values cells by how close they are to it makes "right" best.
    standin = KnownRewardStandIn([0.0] * 7 + [1.0])
    config = PlannerConfig(method="random", horizon=2, population=64, iterations=1, elites=1)
    stream = standin.start_stream(1)
    blind = Planner(3, config, seed=0).plan(stream)
    assert blind.predicted_return == 0.0

    def critic(features):  # one-hot cells -> value rising toward cell 7
        return features @ torch.linspace(0.0, 1.0, 8)

    plan = Planner(3, config, seed=0, critic=critic).plan(stream)
    assert list(plan.actions) == [RIGHT, RIGHT]
    assert plan.predicted_return > 0

    def half(features):
        return critic(features) / 2

    halves = Planner(3, config, seed=0, critic=[half, half]).plan(stream)  # values add up
    assert list(halves.actions) == [RIGHT, RIGHT]
    assert halves.predicted_return == pytest.approx(plan.predicted_return)


def test_train_critic_command_writes_a_loadable_critic(tmp_path, tiny_frame_model):
    from lsswm.cli.main import main

    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=2, steps=20)
    out = tmp_path / "critic"
    argv = ["agents", "train-critic", "--ckpt", str(ckpt), "--data", str(data), "--out", str(out)]
    argv += ["--steps", "3", "--batch", "4", "--horizon", "4", "--context-length", "4"]
    assert main([*argv, "--no-progress"]) == 0
    critic = load_critic(out / "critic.safetensors")
    assert critic(torch.zeros(2, 32)).shape == (2,)
    history = json.loads((out / "critic_training.json").read_text())["history"]
    assert len(history) == 3 and all(row["loss"] >= 0 for row in history)


def test_discounted_returns_by_hand():
    from lsswm.agents.critic_returns import discounted_returns, truncation_tail

    rewards = np.array([0.0, 0.0, 1.0, 0.0, 2.0], np.float32)
    # G_t = r_{t+1} + 0.5 * G_{t+1}; nothing follows the last frame.
    expected = [0.5 + 0.125 * 2, 1.0 + 0.25 * 2, 0.0 + 0.5 * 2, 2.0, 0.0]
    assert np.allclose(discounted_returns(rewards, 0.5), expected)
    assert truncation_tail(0.5) == 5  # 0.5**5 < 0.05 <= 0.5**4


def test_fit_critic_command_fits_every_uncut_imagined_frame(tmp_path, tiny_frame_model):
    from lsswm.cli.main import main

    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=2, steps=24)
    out = tmp_path / "critic"
    argv = ["agents", "fit-critic", "--ckpt", str(ckpt), "--data", str(data), "--out", str(out)]
    argv += ["--val-data", str(data), "--horizon", "3", "--min-context", "4", "--stride", "2"]
    argv += ["--discount", "0.5", "--epochs", "2", "--no-progress"]
    assert main(argv) == 0
    critic = load_critic(out / "critic.safetensors")
    assert critic(torch.zeros(2, 32)).shape == (2,)
    summary = json.loads((out / "critic_training.json").read_text())
    # 25 frames per episode; starts 3, 5, .., 21 (imagining 3 ahead within the episode);
    # frames start + k count when they lie before the last 5 (truncation tail at 0.5): < 20.
    per_episode = sum(s + k < 20 for s in range(3, 22, 2) for k in (1, 2, 3))
    assert summary["train_frames"] == 2 * per_episode
    by_depth = summary["val_fit"]["by_depth"]
    assert sorted(by_depth) == ["1", "2", "3"]
    assert sum(row["frames"] for row in by_depth.values()) == 2 * per_episode
    assert len(summary["history"]) == 2 and "val_mse" in summary["history"][0]


@pytest.mark.parametrize("targets", ["motion", "motion-value"])
def test_fit_motion_targets_cut_only_discounted_sums(tmp_path, tiny_frame_model, targets):
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic

    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=1, steps=24)
    options = ReturnsCriticOptions(
        ckpt=str(ckpt), data=str(data), out=str(tmp_path / "m"), horizon=3, min_context=4
    )
    options.targets, options.discount, options.epochs, options.progress = targets, 0.5, 1, False
    summary = fit_returns_critic(options)
    # Starts 3, 5, .., 21 imagine frames start + 1..3. Motion into a frame is never cut by
    # the episode's end: every one counts. The motion still to come is a discounted sum, cut
    # in the last 5 frames (the truncation tail at 0.5), like the returns.
    starts = range(3, 22, 2)
    kept = [s + k for s in starts for k in (1, 2, 3)]
    expected = len(kept) if targets == "motion" else sum(frame < 20 for frame in kept)
    assert summary["train_frames"] == expected
    assert summary["targets"] == targets


def test_shortest_path_targets_need_maze_state(tmp_path, tiny_frame_model):
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic
    from lsswm.agents.errors import AgentError

    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=1, steps=12)
    options = ReturnsCriticOptions(
        ckpt=str(ckpt), data=str(data), out=str(tmp_path / "c"), horizon=2, min_context=2
    )
    options.targets, options.progress = "shortest-path", False
    with pytest.raises(AgentError, match=r"state/.*--targets returns"):
        fit_returns_critic(options)


def test_motion_targets_are_the_distance_moved_into_each_frame():
    from lsswm.agents.critic_returns import motion_targets

    positions = np.array([[1.0, 1.0], [1.0, 1.0], [1.3, 1.4], [1.3, 1.2]])
    moved = motion_targets({"state/agent_pos": positions})
    np.testing.assert_allclose(moved, [0.0, 0.0, 0.5, 0.2], atol=1e-6)


class _OffStartHead:
    """A motion head on the stand-in's one-hot cells: 1 wherever the agent is off its start."""

    config = SimpleNamespace(inputs="features")  # what the planner reads, as of a critic

    def __init__(self, start: int) -> None:
        self.start = start

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return 1.0 - features[..., self.start]


def test_motion_drive_makes_the_planner_move_on_without_reward():
    # No reward anywhere: every sequence scores 0 without the drive. With it, the planner
    # leaves its start cell at once and does not come back (staying or going back and forth
    # predicts less motion), and the score is the discounted predicted motion.
    standin = KnownRewardStandIn([0.0] * 8)
    config = PlannerConfig(
        method="random", horizon=2, population=64, elites=1, discount=0.5, motion_weight=2.0
    )
    stream = standin.start_stream(1)
    stream.observe_frames(torch.as_tensor(standin.frame_of(3))[None, None], torch.zeros(1, 1))
    assert Planner(3, config, seed=0).plan(stream).predicted_return == 0.0
    plan = Planner(3, config, seed=0, motion=_OffStartHead(3)).plan(stream)
    first, second = (int(a) for a in plan.actions)
    assert first in (LEFT, RIGHT) and (first, second) not in ((LEFT, RIGHT), (RIGHT, LEFT))
    assert plan.predicted_return == pytest.approx(2.0 * (1.0 + 0.5))


def test_novelty_bonus_is_the_relative_distance_to_remembered_frames():
    from lsswm.agents.planner_config import PlannerConfig

    planner = Planner(3, PlannerConfig(novelty=1.0, novelty_memory=2, novelty_neighbours=1))
    for value in (5.0, 0.0, 1.0):  # only the last 2 frames are kept: 0 and 1
        planner.remember(torch.full((2, 2), value))
    assert len(planner._memory) == 2
    # Candidates of 2 frames each, as flat latents of size 4; nearest distances to {0, 1}:
    near = torch.full((1, 2, 4), 1.0)  # 0 and 0
    far = torch.full((1, 2, 4), 3.0)  # |3 - 1| * 2 = 4 per frame
    bonus = planner.novelty(torch.cat([near, far, far]))
    assert torch.allclose(bonus, torch.tensor([0.0, 1.5, 1.5]))


def test_policy_prior_is_mixed_into_the_first_distribution():
    from lsswm.agents.planner_config import PlannerConfig

    def prior(features):  # always action 2
        return torch.nn.functional.one_hot(torch.tensor(2), 3).float().expand_as(features)

    config = PlannerConfig(horizon=2, warm_start=0.0, prior_weight=0.75)
    planner = Planner(3, config, prior=prior)
    assert torch.allclose(planner._first_probs(), torch.full((2, 3), 1 / 3))  # nothing seen
    planner.observed(torch.zeros(3))
    expected = torch.tensor([0.25 / 3, 0.25 / 3, 0.25 / 3 + 0.75])
    assert torch.allclose(planner._first_probs(), expected.expand(2, 3))
    planner.reset(0)  # a new episode forgets the last frame's prior
    assert torch.allclose(planner._first_probs(), torch.full((2, 3), 1 / 3))


def test_fit_prior_command_clones_the_next_action(tmp_path, tiny_frame_model):
    from lsswm.agents.policy_prior import load_prior
    from lsswm.cli.main import main

    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=2, steps=12)
    out = tmp_path / "prior"
    argv = ["agents", "fit-prior", "--ckpt", str(ckpt), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--val-data", str(data), "--epochs", "2", "--no-progress"]) == 0
    prior = load_prior(out / "prior.safetensors")
    probs = prior(torch.zeros(4, 32))
    assert probs.shape == (4, 6) and torch.allclose(probs.sum(-1), torch.ones(4))
    summary = json.loads((out / "prior_training.json").read_text())
    assert summary["train_frames"] == 2 * 12  # 13 frames per episode: 12 "next actions"
    assert 0.0 <= summary["val_accuracy"] <= 1.0 and len(summary["history"]) == 2


def test_reward_head_fits_real_hits_at_every_imagined_frame(tmp_path, tiny_frame_model):
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic
    from lsswm.collect.dataset import open_dataset

    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=2, steps=24)
    options = ReturnsCriticOptions(
        ckpt=str(ckpt), data=str(data), out=str(tmp_path / "r"), horizon=3, min_context=4
    )
    options.targets, options.epochs, options.progress = "reward", 2, False
    summary = fit_returns_critic(options)
    head = load_critic(tmp_path / "r" / "critic.safetensors")
    assert head.config.output == "hit-logit"
    probability = head.hit_probability(torch.zeros(3, 32))
    assert probability.shape == (3,) and bool(((probability > 0) & (probability < 1)).all())
    # A hit is not a discounted sum: no frame is cut at the episode's end. Every imagined
    # frame start + k (starts 3, 5, .., 21) counts, labelled by its own real reward.
    starts = range(3, 22, 2)
    assert summary["train_frames"] == 2 * len(starts) * 3
    rewards = [np.asarray(e["rewards"]) for e in open_dataset(data)]
    for k in (1, 2, 3):
        hits = sum(int((r[[s + k for s in starts]] > 0).sum()) for r in rewards)
        assert summary["train_fit"]["by_depth"][str(k)]["hits"] == hits
    assert sum(d["hits"] for d in summary["train_fit"]["by_depth"].values()) > 0
    assert "train_bce" in summary["history"][0]
    # Calibrated back to the data's rate of hits: offset log(hits / misses) over the frames
    # the head was fitted on, and a hit's mean real reward.
    hits = sum(d["hits"] for d in summary["train_fit"]["by_depth"].values())
    frames = summary["train_frames"]
    assert head.config.hit_logit_offset == pytest.approx(np.log(hits / (frames - hits)))
    all_hits = np.concatenate([r[r > 0] for r in rewards])
    assert head.config.reward_at_hit == pytest.approx(float(all_hits.mean()))
    features = torch.randn(4, 32)
    with torch.no_grad():
        calibrated = torch.sigmoid(head(features) + head.config.hit_logit_offset)
        torch.testing.assert_close(
            head.expected_reward(features), calibrated * head.config.reward_at_hit
        )
    value_head = fit_value_head(tmp_path, data, ckpt)
    with pytest.raises(ValueError, match="not a reward head"):
        value_head.hit_probability(torch.zeros(1, 32))
    with pytest.raises(ValueError, match="not a reward head"):
        value_head.expected_reward(torch.zeros(1, 32))


def fit_value_head(tmp_path, data, ckpt):
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic

    options = ReturnsCriticOptions(
        ckpt=str(ckpt), data=str(data), out=str(tmp_path / "v"), horizon=2, min_context=4
    )
    options.epochs, options.discount, options.progress = 1, 0.5, False
    fit_returns_critic(options)
    return load_critic(tmp_path / "v" / "critic.safetensors")


def test_value_targets_cut_to_nothing_get_a_clear_error(tmp_path, tiny_frame_model):
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic
    from lsswm.agents.errors import AgentError

    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=1, steps=24)
    # At discount 0.97 the last 99 frames' returns are cut: nothing of 25 frames is left.
    options = ReturnsCriticOptions(ckpt=str(ckpt), data=str(data), out=str(tmp_path / "c"))
    options.horizon, options.min_context, options.progress = 2, 4, False
    with pytest.raises(AgentError, match=r"last 99 frames of each, at --discount 0\.97"):
        fit_returns_critic(options)


def test_reward_head_refuses_labels_of_one_class():
    from lsswm.agents.critic_returns import fit_loss
    from lsswm.agents.errors import AgentError

    for labels in (torch.zeros(10), torch.ones(10)):
        with pytest.raises(AgentError, match="with and without a real reward"):
            fit_loss(labels)
    # Balanced: the 2 hits among 10 frames weigh as much as the 8 others.
    loss = fit_loss(torch.tensor([1.0, 1.0] + [0.0] * 8))
    logits = torch.zeros(10)
    hit_part = 4.0 * 2 * np.log(2) / 10  # pos_weight 8/2 on the 2 hits
    miss_part = 8 * np.log(2) / 10
    assert float(loss(logits, torch.tensor([1.0, 1.0] + [0.0] * 8))) == pytest.approx(
        hit_part + miss_part
    )


def test_trajectory_inputs_hold_the_path_to_each_frame():
    from lsswm.agents.critic import trajectory_inputs

    features = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)  # (B, n=3, D=2)
    rows = trajectory_inputs(features, frames=4)
    assert rows.shape == (2, 3, 4 * 2 + 4)
    for k in range(3):
        path = features[:, : k + 1].flatten(1)
        torch.testing.assert_close(rows[:, k, : 2 * (k + 1)], path)
        assert not rows[:, k, 2 * (k + 1) : 8].any()  # frames after k: zeros
        torch.testing.assert_close(rows[:, k, 8:], torch.eye(4)[k].expand(2, 4))
    with pytest.raises(ValueError, match="up to 2 imagined frames, got 3"):
        trajectory_inputs(features, frames=2)


def test_trajectory_heads_are_for_eval_reward_only(tmp_path, tiny_frame_model):
    from lsswm.agents.critic import Critic, CriticConfig, head_inputs
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic
    from lsswm.agents.errors import AgentError

    head = Critic(CriticConfig(feature_dim=3 * 33, inputs="trajectory", trajectory_frames=3))
    imagined = SimpleNamespace(features=torch.zeros(1, 3, 32))
    with pytest.raises(ValueError, match="only lsswm eval reward gives it"):
        head_inputs(imagined, head)
    data, ckpt = tiny_data_and_model(tmp_path, tiny_frame_model, episodes=1, steps=24)
    options = ReturnsCriticOptions(ckpt=str(ckpt), data=str(data), out=str(tmp_path / "c"))
    options.inputs, options.targets = "trajectory", "motion"
    with pytest.raises(AgentError, match="--inputs trajectory is for reward heads"):
        fit_returns_critic(options)
