"""Diffusion forcing: noise levels with the clean prefix, the v parameterisation, the sampler."""

from __future__ import annotations

import pytest
import torch
from test_wm_model import random_clip

from lsswm.worldmodel import diffusion
from lsswm.worldmodel.model import WorldModel


def test_clean_prefix_levels_and_loss_mask():
    generator = torch.Generator().manual_seed(0)
    frames = 10
    levels, mask = diffusion.sample_training_noise_levels(
        500, frames, clean_prefix_prob=1.0, generator=generator
    )
    prefix = (~mask).sum(1)
    assert prefix.min() == frames // 2 + 1 and prefix.max() == frames - 1  # > half, < all
    for row_levels, row_mask, length in zip(levels, mask, prefix, strict=True):
        assert not row_mask[:length].any() and row_mask[length:].all()
        assert (row_levels[:length] == 0).all() and (row_levels[length:] > 0).all()


def test_clean_prefix_probability_one_half_and_zero():
    generator = torch.Generator().manual_seed(1)
    _, mask = diffusion.sample_training_noise_levels(4000, 8, 0.5, generator=generator)
    with_prefix = (~mask).any(1).float().mean()
    assert 0.45 < with_prefix < 0.55
    levels, mask = diffusion.sample_training_noise_levels(100, 8, 0.0, generator=generator)
    assert mask.all() and (levels > 0).all() and (levels < 1).all()


def test_diffusion_loss_ignores_clean_prefix_frames(monkeypatch, tiny_config):
    """With a clean prefix the diffusion loss is the mean over noised frames only: changing
    what the model predicts on prefix frames does not change it."""
    config = tiny_config("hybrid", clean_prefix_prob=1.0)
    model = WorldModel(config)
    latents, actions, _ = random_clip(config, batch=3, frames=8, dtype=torch.float32)
    calls = {}
    original_forward = WorldModel.forward

    def forward_with_prefix_garbage(self, *args, **kwargs):
        out = original_forward(self, *args, **kwargs)
        levels = args[1]
        calls["levels"] = levels
        garbage = torch.full_like(out.prediction, calls.get("garbage", 0.0))
        prefix = (levels == 0)[..., None, None, None]
        out.prediction = torch.where(prefix, garbage, out.prediction)
        return out

    monkeypatch.setattr(WorldModel, "forward", forward_with_prefix_garbage)
    losses = []
    for garbage in (0.0, 1000.0):
        calls["garbage"] = garbage
        losses.append(
            model.training_loss(latents, actions, generator=torch.Generator().manual_seed(3))
        )
    assert (calls["levels"] == 0).any()
    torch.testing.assert_close(losses[0].diffusion, losses[1].diffusion)
    assert float(losses[0].metrics["noised_fraction"]) < 0.5


def test_velocity_parameterisation_round_trip():
    clean, noise = torch.randn(2, 4, 3, 3, 2), torch.randn(2, 4, 3, 3, 2)
    levels = torch.tensor([[0.0, 0.3, 0.7, 1.0], [0.1, 0.5, 0.9, 0.99]])
    noisy = diffusion.add_noise(clean, noise, levels)
    velocity = diffusion.velocity_target(clean, noise, levels)
    torch.testing.assert_close(diffusion.clean_from_velocity(noisy, velocity, levels), clean)
    noise_back = diffusion.noise_from_velocity(noisy, velocity, levels)
    torch.testing.assert_close(noise_back[:, 1:], noise[:, 1:])  # t = 0 carries no noise
    torch.testing.assert_close(noisy[0, 0], clean[0, 0])
    torch.testing.assert_close(noisy[0, 3], noise[0, 3], atol=1e-6, rtol=0)


@pytest.mark.parametrize("steps", [1, 4, 25])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_sampler_with_an_oracle_denoiser_returns_the_target(steps, eta):
    """A denoiser that always predicts the v pointing at a fixed x0 makes the sampler land on
    x0 for any step count; known frames are passed in at their level and left alone."""
    target = torch.randn(2, 3, 2, 2, 1, dtype=torch.float64)
    known = torch.randn(2, 2, 2, 2, 1, dtype=torch.float64)
    seen_levels = []

    def oracle(latents, levels):
        seen_levels.append(levels.clone())
        assert torch.equal(latents[:, :2], known)
        alpha, sigma = diffusion.alpha_sigma(levels[:, 2:, None, None, None])
        z = latents[:, 2:]
        noise = (z - alpha * target) / sigma.clamp(min=1e-12)
        velocity = alpha * noise - sigma * target
        return torch.cat([torch.zeros_like(known), velocity], dim=1)

    sampled = diffusion.sample_frames(
        oracle,
        known,
        torch.zeros(2, 2, dtype=torch.float64),
        target.shape,
        steps,
        eta=eta,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(sampled, target, rtol=0, atol=1e-9)
    assert len(seen_levels) == steps
    assert seen_levels[0][:, 2:].eq(1.0).all() and seen_levels[0][:, :2].eq(0).all()


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_shared_noise_gives_every_row_the_draws_of_one_row(eta):
    """Common random numbers: with shared_noise each row is sampled exactly as a batch of one
    with the same generator seed, so rows with equal conditioning get equal samples; without
    it they differ."""
    known_rows = torch.randn(2, 2, 2, 2, 1, dtype=torch.float64)
    known = known_rows[[0, 1, 0]]  # rows 0 and 2 are conditioned alike

    def denoiser(latents, levels):
        # Row-wise: the v prediction depends on the row's own noisy frames and known frames.
        return 0.5 * latents + latents[:, :2].mean(dim=1, keepdim=True)

    def sample(rows, shared):
        return diffusion.sample_frames(
            denoiser,
            rows,
            torch.zeros(len(rows), 2, dtype=torch.float64),
            (len(rows), 3, 2, 2, 1),
            4,
            eta=eta,
            generator=torch.Generator().manual_seed(7),
            shared_noise=shared,
        )

    shared = sample(known, True)
    for row in range(3):
        torch.testing.assert_close(shared[row], sample(known[row : row + 1], False)[0])
    assert torch.equal(shared[0], shared[2])
    assert not torch.allclose(sample(known, False)[0], sample(known, False)[2])


def test_denoising_levels_run_from_noise_to_clean():
    assert diffusion.denoising_levels(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    with pytest.raises(ValueError):
        diffusion.denoising_levels(0)
