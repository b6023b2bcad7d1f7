"""Frame tokenizer: shapes, patchify exactness, loss, calibration, save/load."""

from __future__ import annotations

import pytest
import torch

from lsswm.worldmodel.checkpoint import CheckpointError, load_tokenizer, save_tokenizer
from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig, TokenizerConfigError


def small_conv(image_size=64, downsample=8, latent_channels=4):
    config = TokenizerConfig(
        image_size=image_size,
        downsample=downsample,
        latent_channels=latent_channels,
        base_channels=8,
        max_channels=16,
    )
    torch.manual_seed(0)
    return Tokenizer(config)


@pytest.mark.parametrize(
    ("image_size", "downsample", "grid"), [(64, 8, 8), (128, 8, 16), (128, 16, 8)]
)
def test_conv_tokenizer_shapes(image_size, downsample, grid):
    tokenizer = small_conv(image_size, downsample)
    frames = torch.randint(0, 256, (2, 3, image_size, image_size, 3), dtype=torch.uint8)
    latents = tokenizer.encode(frames)
    assert latents.shape == (2, 3, grid, grid, 4)
    assert tokenizer.config.latent_shape == (grid, grid, 4)
    decoded = tokenizer.decode_uint8(latents)
    assert decoded.shape == frames.shape and decoded.dtype == torch.uint8


def test_conv_tokenizer_loss_backward():
    tokenizer = small_conv(32, 4)
    frames = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    loss, metrics = tokenizer.loss(frames)
    loss.backward()
    assert torch.isfinite(loss) and set(metrics) >= {"l1", "mse", "psnr"}
    assert all(p.grad is not None for p in tokenizer.parameters())


def test_patchify_round_trip_is_exact():
    tokenizer = Tokenizer(TokenizerConfig(kind="patchify", image_size=16, downsample=4))
    frames = torch.randint(0, 256, (2, 5, 16, 16, 3), dtype=torch.uint8)
    latents = tokenizer.encode(frames)
    assert latents.shape == (2, 5, 4, 4, 48)
    assert torch.equal(
        latents[0, 0, 0, 0].reshape(4, 4, 3), frames[0, 0, :4, :4].float() / 127.5 - 1
    )
    assert torch.equal(tokenizer.decode_uint8(latents), frames)


def test_calibrate_normalises_latents():
    tokenizer = Tokenizer(TokenizerConfig(kind="patchify", image_size=8, downsample=2))
    frames = (torch.rand(64, 8, 8, 3) * 60 + 100).to(torch.uint8)
    tokenizer.calibrate(frames)
    latents = tokenizer.encode(frames).reshape(-1, 12)
    torch.testing.assert_close(latents.mean(0), torch.zeros(12), atol=1e-4, rtol=0)
    torch.testing.assert_close(latents.std(0), torch.ones(12), atol=1e-3, rtol=0)
    assert torch.equal(tokenizer.decode_uint8(tokenizer.encode(frames)), frames)


def test_save_load_round_trip(tmp_path):
    tokenizer = small_conv(32, 4)
    with torch.no_grad():
        tokenizer.latent_std.fill_(2.0)
    path = tmp_path / "tok.safetensors"
    save_tokenizer(path, tokenizer)
    loaded = load_tokenizer(path)
    assert loaded.config == tokenizer.config
    frames = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    assert torch.equal(loaded.encode(frames), tokenizer.encode(frames))
    with pytest.raises(CheckpointError):
        load_tokenizer(tmp_path / "missing.safetensors")


def test_bad_configs_and_frames_are_rejected():
    with pytest.raises(TokenizerConfigError):
        TokenizerConfig(downsample=6)
    with pytest.raises(TokenizerConfigError):
        TokenizerConfig(kind="vqgan")
    with pytest.raises(ValueError, match="channels-last"):
        small_conv(32, 4).encode(torch.zeros(2, 3, 32, 32))
