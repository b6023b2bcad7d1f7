"""Diffusion forcing: per-frame noise levels, cosine schedule, v-prediction, DDIM sampler.

Noise level t in [0, 1] per frame (0 = clean, 1 = pure noise). Variance-preserving cosine
schedule: alpha(t) = cos(pi t / 2), sigma(t) = sin(pi t / 2), z_t = alpha x0 + sigma eps.
The network predicts v = alpha eps - sigma x0, from which x0 = alpha z - sigma v and
eps = sigma z + alpha v, well defined at both ends (t = 1 gives x0 = -v; t = 0 gives x0 = z).

Training noise (diffusion forcing): every frame draws its own t ~ U(0, 1). With probability
`clean_prefix_prob` per sample, a random prefix longer than half the clip is kept clean (t = 0)
and left out of the diffusion loss; the rest of the clip is noised as usual.

Sampling: `sample_frames` is the one sampler (DDIM, eta = 0 deterministic by default): new
frames go from t = 1 to t = 0 in `steps` equal steps, jointly, beside known clean frames that
stay at t = 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor


def _expand(levels: Tensor, like: Tensor) -> Tensor:
    """(B, T) levels -> broadcastable over (B, T, ...)."""
    return levels.reshape(*levels.shape, *([1] * (like.dim() - levels.dim())))


def alpha_sigma(levels: Tensor) -> tuple[Tensor, Tensor]:
    angle = levels * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def add_noise(clean: Tensor, noise: Tensor, levels: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_expand(levels, clean))
    return alpha * clean + sigma * noise


def velocity_target(clean: Tensor, noise: Tensor, levels: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_expand(levels, clean))
    return alpha * noise - sigma * clean


def clean_from_velocity(noisy: Tensor, velocity: Tensor, levels: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_expand(levels, noisy))
    return alpha * noisy - sigma * velocity


def noise_from_velocity(noisy: Tensor, velocity: Tensor, levels: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_expand(levels, noisy))
    return sigma * noisy + alpha * velocity


def sample_training_noise_levels(
    batch: int,
    frames: int,
    clean_prefix_prob: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-frame noise levels (B, T) in [0, 1] and the diffusion-loss mask (B, T) bool.

    With probability `clean_prefix_prob` a sample keeps a clean prefix of length uniform in
    [floor(T/2) + 1, T - 1] (longer than half the clip, at least one frame noised); those frames
    get t = 0 and mask False. Clips of fewer than 3 frames have no room for such a prefix.
    """
    levels = torch.rand(batch, frames, device=device, generator=generator)
    loss_mask = torch.ones(batch, frames, dtype=torch.bool, device=device)
    shortest, longest = frames // 2 + 1, frames - 1
    if clean_prefix_prob <= 0 or shortest > longest:
        return levels, loss_mask
    with_prefix = torch.rand(batch, device=device, generator=generator) < clean_prefix_prob
    lengths = torch.randint(shortest, longest + 1, (batch,), device=device, generator=generator)
    lengths = torch.where(with_prefix, lengths, torch.zeros_like(lengths))
    in_prefix = torch.arange(frames, device=device)[None] < lengths[:, None]
    return levels.masked_fill(in_prefix, 0.0), loss_mask & ~in_prefix


def denoising_levels(steps: int) -> list[float]:
    """t for each sampler step, from 1 (pure noise) down to 0, steps + 1 values."""
    if steps < 1:
        raise ValueError(f"denoising steps must be >= 1 (got {steps})")
    return [1.0 - i / steps for i in range(steps + 1)]


Denoiser = Callable[[Tensor, Tensor], Tensor]


def sample_frames(
    denoise: Denoiser,
    known: Tensor,
    known_levels: Tensor,
    new_shape: tuple[int, ...],
    steps: int,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    shared_noise: bool = False,
) -> Tensor:
    """DDIM sampling of new frames appended after `known` frames.

    denoise(latents (B, p+n, ...), levels (B, p+n)) -> v prediction for all frames.
    known: (B, p, ...) frames that stay fixed at their `known_levels` (B, p) (normally 0);
    new_shape: (B, n, ...). Returns the clean new frames (B, n, ...).
    eta = 0 is deterministic DDIM; eta = 1 is ancestral (DDPM-like) sampling.
    shared_noise: every batch row gets the same noise draws (common random numbers), so rows
    that differ only in their conditioning (a planner's candidate actions) differ in their
    samples by that conditioning alone, not by the sampler's luck.
    """
    batch, n_new = new_shape[:2]
    n_known = known.size(1)

    def draw() -> Tensor:
        shape = (1, *new_shape[1:]) if shared_noise else new_shape
        noise = torch.randn(shape, device=known.device, dtype=known.dtype, generator=generator)
        return noise.expand(new_shape) if shared_noise else noise

    z = draw()
    schedule = denoising_levels(steps)
    for t, t_next in itertools.pairwise(schedule):
        new_levels = known_levels.new_full((batch, n_new), t)
        levels = torch.cat([known_levels, new_levels], dim=1)
        velocity = denoise(torch.cat([known, z], dim=1), levels)[:, n_known:]
        clean = clean_from_velocity(z, velocity, new_levels)
        if t_next <= 0.0:
            return clean
        noise = noise_from_velocity(z, velocity, new_levels)
        alpha_t, sigma_t = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
        alpha_next, sigma_next = math.cos(math.pi * t_next / 2), math.sin(math.pi * t_next / 2)
        # DDIM's sigma_eta for alpha_bar = alpha^2 (variance preserving).
        fresh_std = 0.0
        if eta > 0:
            fresh_std = (
                eta * (sigma_next / sigma_t) * math.sqrt(max(0.0, 1 - (alpha_t / alpha_next) ** 2))
            )
        z = alpha_next * clean + math.sqrt(max(0.0, sigma_next**2 - fresh_std**2)) * noise
        if fresh_std > 0:
            z = z + fresh_std * draw()
    return z
