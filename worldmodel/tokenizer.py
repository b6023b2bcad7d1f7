"""Frame tokenizer: frames (..., H, W, 3) <-> latent grids (..., h, w, C), channels last.

Two kinds:
- "conv": a trainable convolutional autoencoder (residual blocks, stride-2 convs down,
  nearest-upsample + conv up), `downsample` a power of two: 64x64 -> 8x8 with downsample 8,
  128x128 -> 16x16 (or 8x8 with downsample 16). Loss: L1 + MSE on pixels in [-1, 1].
- "patchify": no parameters; each `downsample` x `downsample` patch becomes one token of
  3 * downsample^2 channels. For tests and pixel-space runs.

Pixel convention: uint8 frames in [0, 255], or float frames already in [-1, 1]. `decode`
returns floats in [-1, 1] (`decode_uint8` for images). Latents are normalised per channel by
`latent_mean` / `latent_std` buffers (identity until `calibrate` sets them from data), so the
world model sees roughly unit-variance latents, as the diffusion schedule assumes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

TOKENIZER_KINDS = ("conv", "patchify")


class TokenizerConfigError(ValueError):
    user_facing = True


@dataclass(frozen=True)
class TokenizerConfig:
    kind: str = "conv"
    image_size: int = 64
    image_channels: int = 3
    downsample: int = 8  # conv: spatial reduction (power of two); patchify: patch size
    latent_channels: int = 4  # conv only; patchify has image_channels * downsample^2
    base_channels: int = 32
    max_channels: int = 128
    l1_weight: float = 1.0
    mse_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZER_KINDS:
            raise TokenizerConfigError(
                f"unknown tokenizer kind {self.kind!r}; choose one of {TOKENIZER_KINDS}"
            )
        if self.downsample < 1 or self.image_size % self.downsample:
            raise TokenizerConfigError(
                f"downsample={self.downsample} must divide image_size={self.image_size}"
            )
        if self.kind == "conv" and self.downsample & (self.downsample - 1):
            raise TokenizerConfigError(
                f"conv tokenizer downsample={self.downsample} must be a power of two (2, 4, 8, 16)"
            )

    @property
    def latent_size(self) -> int:
        return self.image_size // self.downsample

    @property
    def latent_dim(self) -> int:
        """Channels per latent cell."""
        if self.kind == "patchify":
            return self.image_channels * self.downsample**2
        return self.latent_channels

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.latent_size, self.latent_size, self.latent_dim)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerConfig:
        return cls(**data)


def frames_to_float(frames: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1]; float input is taken as already in [-1, 1]."""
    if frames.dtype == torch.uint8:
        return frames.float() / 127.5 - 1.0
    return frames


def float_to_uint8(frames: Tensor) -> Tensor:
    return ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(_groups(channels), channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(_groups(channels), channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Tokenizer(nn.Module):
    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("latent_mean", torch.zeros(config.latent_dim))
        self.register_buffer("latent_std", torch.ones(config.latent_dim))
        if config.kind == "conv":
            self._build_autoencoder(config)

    def _build_autoencoder(self, config: TokenizerConfig) -> None:
        stages = config.downsample.bit_length() - 1
        widths = [min(config.base_channels * 2**i, config.max_channels) for i in range(stages + 1)]
        encoder: list[nn.Module] = [nn.Conv2d(config.image_channels, widths[0], 3, padding=1)]
        for i in range(stages):
            encoder += [ResidualBlock(widths[i]), nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1)]
        encoder += [
            ResidualBlock(widths[-1]),
            nn.GroupNorm(_groups(widths[-1]), widths[-1]),
            nn.SiLU(),
            nn.Conv2d(widths[-1], config.latent_channels, 1),
        ]
        decoder: list[nn.Module] = [
            nn.Conv2d(config.latent_channels, widths[-1], 3, padding=1),
            ResidualBlock(widths[-1]),
        ]
        for i in reversed(range(stages)):
            decoder += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i + 1], widths[i], 3, padding=1),
                ResidualBlock(widths[i]),
            ]
        decoder += [
            nn.GroupNorm(_groups(widths[0]), widths[0]),
            nn.SiLU(),
            nn.Conv2d(widths[0], config.image_channels, 3, padding=1),
        ]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    # ---- raw (unnormalised) mapping -----------------------------------------------------
    def _encode_raw(self, images: Tensor) -> Tensor:
        """(N, H, W, 3) float [-1, 1] -> (N, h, w, C)."""
        config = self.config
        if config.kind == "patchify":
            n, height, width, channels = images.shape
            p = config.downsample
            patches = images.reshape(n, height // p, p, width // p, p, channels)
            return patches.permute(0, 1, 3, 2, 4, 5).reshape(n, height // p, width // p, -1)
        return self.encoder(images.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def _decode_raw(self, latents: Tensor) -> Tensor:
        config = self.config
        if config.kind == "patchify":
            n, h, w, _ = latents.shape
            p, channels = config.downsample, config.image_channels
            patches = latents.reshape(n, h, w, p, p, channels).permute(0, 1, 3, 2, 4, 5)
            return patches.reshape(n, h * p, w * p, channels)
        return self.decoder(latents.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def _check_frames(self, frames: Tensor) -> None:
        size, channels = self.config.image_size, self.config.image_channels
        if tuple(frames.shape[-3:]) != (size, size, channels):
            raise ValueError(
                f"frames must be (..., {size}, {size}, {channels}) channels-last, got "
                f"{tuple(frames.shape)}; resize the data or build a tokenizer for its size"
            )

    # ---- public mapping -----------------------------------------------------------------
    def encode(self, frames: Tensor) -> Tensor:
        """(..., H, W, 3) uint8 or float [-1, 1] -> normalised latents (..., h, w, C)."""
        self._check_frames(frames)
        lead = frames.shape[:-3]
        images = frames_to_float(frames).reshape(-1, *frames.shape[-3:])
        images = images.to(self.latent_mean.dtype)
        latents = (self._encode_raw(images) - self.latent_mean) / self.latent_std
        return latents.reshape(*lead, *latents.shape[1:])

    def decode(self, latents: Tensor) -> Tensor:
        """Normalised latents (..., h, w, C) -> frames (..., H, W, 3), float in about [-1, 1]."""
        lead = latents.shape[:-3]
        flat = latents.reshape(-1, *latents.shape[-3:]) * self.latent_std + self.latent_mean
        images = self._decode_raw(flat)
        return images.reshape(*lead, *images.shape[1:])

    def decode_uint8(self, latents: Tensor) -> Tensor:
        return float_to_uint8(self.decode(latents))

    def loss(self, frames: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Reconstruction loss on a batch of frames (..., H, W, 3): l1_weight * L1 +
        mse_weight * MSE in [-1, 1] pixel units. Returns the loss and detached metrics
        (including PSNR in dB, on the [0, 1] pixel scale)."""
        self._check_frames(frames)
        images = frames_to_float(frames).reshape(-1, *frames.shape[-3:])
        images = images.to(self.latent_mean.dtype)
        reconstruction = self._decode_raw(self._encode_raw(images))
        l1 = (reconstruction - images).abs().mean()
        mse = (reconstruction - images).pow(2).mean()
        loss = self.config.l1_weight * l1 + self.config.mse_weight * mse
        psnr = 10 * torch.log10(4.0 / mse.detach().clamp(min=1e-10))  # range 2 -> peak^2 = 4
        return loss, {"loss": loss.detach(), "l1": l1.detach(), "mse": mse.detach(), "psnr": psnr}

    @torch.no_grad()
    def calibrate(self, frames: Tensor) -> None:
        """Set the per-channel latent normalisation from a sample of frames (..., H, W, 3)."""
        self._check_frames(frames)
        images = frames_to_float(frames).reshape(-1, *frames.shape[-3:])
        raw = self._encode_raw(images.to(self.latent_mean.dtype))
        flat = raw.reshape(-1, raw.size(-1))
        self.latent_mean.copy_(flat.mean(0))
        self.latent_std.copy_(flat.std(0).clamp(min=1e-5))
