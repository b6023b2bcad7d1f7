"""Rare-event reward prediction: the sign head, its loss, and old checkpoints' MSE head."""

from __future__ import annotations

import torch

from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.model import WorldModel, reward_classes, reward_sign_loss


def test_sign_head_starts_uniform_with_zero_predicted_reward(tiny_config):
    config = tiny_config("hybrid")
    assert config.reward_head == "sign"
    model = WorldModel(config)
    grid = (config.latent_height, config.latent_width, config.latent_channels)
    latents = torch.randn(2, 6, *grid)
    out = model(latents, torch.rand(2, 6), torch.randint(0, config.action_size, (2, 6)))
    assert out.reward_logits is not None and out.reward_logits.shape == (2, 6, 3)
    probs = torch.softmax(out.reward_logits, -1)
    assert torch.allclose(probs, torch.full_like(probs, 1 / 3))
    assert torch.equal(out.rewards, torch.zeros(2, 6))


def test_reward_classes_and_balanced_loss():
    rewards = torch.tensor([[-1.0, 0.0, 0.0, 0.5]])
    assert reward_classes(rewards).tolist() == [[0, 1, 1, 2]]
    # Zero logits: every frame costs log 3, whatever the weights.
    zero = reward_sign_loss(torch.zeros(1, 4, 3), rewards, balance=1.0)
    assert torch.isclose(zero, torch.log(torch.tensor(3.0)))
    # Fully balanced: a wrong rare positive costs as much as all the zero frames together.
    logits = torch.zeros(1, 100, 3)
    logits[..., 1] = 5.0  # confident "zero" everywhere
    rewards = torch.zeros(1, 100)
    rewards[0, 0] = 1.0
    plain = reward_sign_loss(logits, rewards, balance=0.0)
    balanced = reward_sign_loss(logits, rewards, balance=1.0)
    assert balanced > 10 * plain


def test_config_without_reward_head_is_an_old_mse_checkpoint(tiny_config):
    old = tiny_config("hybrid").to_dict()
    for field in ("reward_head", "reward_class_balance", "termination_pos_weight"):
        old.pop(field)
    loaded = WorldModelConfig.from_dict(old)
    assert loaded.reward_head == "mse"
    assert loaded.termination_pos_weight == 1.0
    model = WorldModel(loaded)
    assert model.reward_head[-1].out_features == 1
    # An old state dict (scalar reward output) loads into it.
    state = {k: v.clone() for k, v in model.state_dict().items()}
    WorldModel(WorldModelConfig.from_dict(old)).load_state_dict(state)
    grid = (loaded.latent_height, loaded.latent_width, loaded.latent_channels)
    out = model(torch.randn(1, 3, *grid), torch.rand(1, 3), torch.zeros(1, 3, dtype=torch.long))
    assert out.reward_logits is None and out.rewards.shape == (1, 3)
    # A new config round-trips with its sign head.
    new = tiny_config("hybrid")
    assert WorldModelConfig.from_json(new.to_json()) == new


def _rare_reward_batch(config, generator, batch=8, frames=10):
    """Frames whose latents hold a bright patch get a reward of 1: about 1 frame in 40."""
    grid = (config.latent_height, config.latent_width, config.latent_channels)
    latents = torch.randn(batch, frames, *grid, generator=generator) * 0.5
    rewards = (torch.rand(batch, frames, generator=generator) < 0.025).float()
    latents[..., 0, 0, :] += 3.0 * rewards[..., None]
    actions = torch.randint(0, config.action_size, (batch, frames), generator=generator)
    return latents, actions, rewards


def _score(model, config, head_seed):
    """AUROC-like separation of the trained model on fresh data: the fraction of (rewarded,
    unrewarded) frame pairs ranked correctly by the predicted reward."""
    generator = torch.Generator().manual_seed(head_seed)
    latents, actions, rewards = _rare_reward_batch(config, generator, batch=32)
    with torch.no_grad():
        predicted = model(latents, torch.zeros(rewards.shape), actions).rewards
    positive, negative = predicted[rewards > 0], predicted[rewards == 0]
    assert len(positive) > 0
    return (positive[:, None] > negative[None, :]).float().mean().item(), positive, negative


def test_sign_head_learns_a_rare_reward(tiny_config):
    torch.manual_seed(0)
    config = tiny_config("hybrid")
    model = WorldModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        latents, actions, rewards = _rare_reward_batch(config, generator)
        loss = model.training_loss(latents, actions, rewards, generator=generator)
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
    separation, positive, negative = _score(model, config, head_seed=123)
    assert separation > 0.95
    assert positive.mean() > negative.mean() + 0.1
