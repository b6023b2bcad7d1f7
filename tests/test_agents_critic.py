"""Value beyond the planner's horizon: lambda returns, the critic in the planner, training."""

from __future__ import annotations

import json

import torch

from lsswm.agents.critic import lambda_returns, load_critic
from lsswm.agents.planner import Planner
from lsswm.agents.planner_config import PlannerConfig
from lsswm.agents.standin import RIGHT, KnownRewardStandIn


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


def test_train_critic_command_writes_a_loadable_critic(tmp_path, tiny_frame_model):
    from lsswm.cli.main import main
    from lsswm.worldmodel.checkpoint import save_world_model
    from lsswm.worldmodel.train.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", episodes=2, steps=20, image_size=16)
    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, tiny_frame_model(image_size=16, action_size=6, chunk_size=2))
    out = tmp_path / "critic"
    argv = ["agents", "train-critic", "--ckpt", str(ckpt), "--data", str(data), "--out", str(out)]
    argv += ["--steps", "3", "--batch", "4", "--horizon", "4", "--context-length", "4"]
    assert main([*argv, "--no-progress"]) == 0
    critic = load_critic(out / "critic.safetensors")
    assert critic(torch.zeros(2, 32)).shape == (2,)
    history = json.loads((out / "critic_training.json").read_text())["history"]
    assert len(history) == 3 and all(row["loss"] >= 0 for row in history)
