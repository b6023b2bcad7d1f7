"""Streaming: equal to the full-sequence pass, constant state for hybrid, imagination."""

from __future__ import annotations

import pytest
import torch
from test_wm_model import random_clip, randomized_model

from lsswm.worldmodel.config import VARIANTS
from lsswm.worldmodel.frame_model import FrameWorldModel
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig

# Streaming and the full pass compute the same sums in a different order (cached keys,
# scan chunks split at call boundaries); in float64 they agree to ~1e-15.
TOLERANCE = dict(rtol=0, atol=1e-10)


def final_frames(config, splits):
    """Frames whose streamed outputs are final: those returned by a call that completed
    their chunk (frame-local) or any frame (causal variants)."""
    final, start = [], 0
    for size in splits:
        end = start + size
        for frame in range(start, end):
            chunk_end = frame - frame % config.commit_frames + config.commit_frames
            if chunk_end <= end:
                final.append(frame)
        start = end
    return final


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    "splits", [(3, 3, 3, 3), (2, 5, 2, 3), (12,)], ids=["chunks", "uneven", "whole"]
)
def test_streaming_equals_full_sequence(variant, splits, tiny_config):
    config = tiny_config(variant)  # chunk_size 3, window 4
    model = randomized_model(config)
    latents, actions, levels = random_clip(config, frames=sum(splits))
    full = model(latents, levels, actions)
    stream = model.start_stream(2)
    outputs, start = [], 0
    for size in splits:
        end = start + size
        outputs.append(
            stream.observe(latents[:, start:end], actions[:, start:end], levels[:, start:end])
        )
        start = end
    streamed = {
        name: torch.cat([getattr(out, name) for out in outputs], dim=1)
        for name in ("prediction", "rewards", "termination_logits")
    }
    frames = final_frames(config, splits)
    assert len(frames) >= 9
    torch.testing.assert_close(
        streamed["prediction"][:, frames], full.prediction[:, frames], **TOLERANCE
    )
    torch.testing.assert_close(streamed["rewards"][:, frames], full.rewards[:, frames], **TOLERANCE)
    torch.testing.assert_close(
        streamed["termination_logits"][:, frames], full.termination_logits[:, frames], **TOLERANCE
    )
    assert stream.frames_seen == sum(splits)


def state_bytes_after(model: WorldModel, frames: int) -> int:
    config = model.config
    stream = model.start_stream(1)
    latents = torch.randn(
        1, frames, config.latent_height, config.latent_width, config.latent_channels
    )
    stream.observe(latents, torch.zeros(1, frames, dtype=torch.long))
    assert stream.frames_seen == frames
    return stream.nbytes


@pytest.mark.parametrize("variant", ["hybrid", "causal"])
def test_state_bytes_constant_for_hybrid_and_growing_for_causal(variant, tiny_config):
    config = tiny_config(
        variant, latent_height=2, latent_width=2, d_model=16, n_heads=2, chunk_size=5
    )
    model = WorldModel(config)
    after_10, after_1000 = state_bytes_after(model, 10), state_bytes_after(model, 1000)
    if variant == "hybrid":
        assert after_10 == after_1000
        assert state_bytes_after(model, 12) == after_10  # mid-chunk too
    else:
        assert after_1000 > 50 * after_10


def test_imagined_frames_update_the_state_like_observed_clean_frames(tiny_config):
    """Caches are updated from the final clean frames: imagining frames leaves the same state
    as observing those frames (at noise level 0) with the same actions."""
    config = tiny_config("hybrid")
    model = randomized_model(config)
    latents, actions, _ = random_clip(config, frames=4)
    stream = model.start_stream(2)
    stream.observe(latents, actions)
    twin = stream.clone()
    new_actions = torch.randint(0, config.action_size, (2, 7))
    imagined = stream.imagine(
        new_actions, denoising_steps=2, generator=torch.Generator().manual_seed(0)
    )
    assert imagined.latents.shape == (2, 7, 4, 4, 3)
    assert imagined.rewards.shape == imagined.termination_probs.shape == (2, 7)
    assert ((imagined.termination_probs >= 0) & (imagined.termination_probs <= 1)).all()
    replay = twin.observe(imagined.latents, new_actions)
    torch.testing.assert_close(replay.rewards[:, -2:], imagined.rewards[:, -2:], **TOLERANCE)
    assert (stream.committed_frames, stream.pending_count) == (
        twin.committed_frames,
        twin.pending_count,
    )
    for mine, theirs in zip(stream.tensors(), twin.tensors(), strict=True):
        torch.testing.assert_close(mine, theirs, **TOLERANCE)


def test_imagine_is_reproducible_and_frame_by_frame_works(tiny_config):
    config = tiny_config("hybrid")
    model = randomized_model(config)
    latents, actions, _ = random_clip(config, frames=5)
    stream = model.start_stream(2)
    stream.observe(latents, actions)
    new_actions = torch.randint(0, config.action_size, (2, 4))
    runs = [
        stream.clone().imagine(new_actions, 3, generator=torch.Generator().manual_seed(7)).latents
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    stepper = stream.clone()
    steps = [stepper.imagine(new_actions[:, i : i + 1], 3).latents for i in range(4)]
    assert torch.cat(steps, 1).shape == runs[0].shape and stepper.frames_seen == 9


def test_select_and_assign_rows(tiny_config):
    config = tiny_config("hybrid")
    model = randomized_model(config)
    latents, actions, _ = random_clip(config, frames=7)
    stream = model.start_stream(2)
    stream.observe(latents, actions)
    population = stream.select(torch.tensor([0, 0, 1, 1]))
    assert population.batch_size == 4
    torch.testing.assert_close(population.layers[0].scan.ssm[1], stream.layers[0].scan.ssm[0])
    other = model.start_stream(1)
    other.observe(latents[1:, :7] * 2, actions[1:, :7])
    population.assign([3], other)
    torch.testing.assert_close(population.layers[1].k[3], other.layers[1].k[0])
    torch.testing.assert_close(population.pending_latents[3], other.pending_latents[0])
    short = model.start_stream(1)
    short.observe(latents[:1, :2], actions[:1, :2])
    with pytest.raises(ValueError, match="pending frames"):
        population.assign([0], short)


def test_frame_world_model_streams_pixels(tiny_config):
    tokenizer = Tokenizer(TokenizerConfig(kind="patchify", image_size=16, downsample=4))
    config = tiny_config("hybrid", latent_channels=48, d_model=32)
    model = FrameWorldModel(WorldModel(config), tokenizer)
    stream = model.start_stream(2)
    frames = torch.randint(0, 256, (2, 4, 16, 16, 3), dtype=torch.uint8)
    out = stream.observe_frames(frames, torch.zeros(2, 4, dtype=torch.long))
    assert out.rewards.shape == (2, 4)
    imagined = stream.imagine(torch.ones(2, 3, dtype=torch.long), denoising_steps=2)
    assert imagined.frames.shape == (2, 3, 16, 16, 3) and imagined.frames.dtype == torch.uint8


def test_stream_rejects_mismatched_inputs(tiny_config):
    config = tiny_config("hybrid")
    stream = WorldModel(config).start_stream(2)
    with pytest.raises(ValueError, match="actions must be"):
        stream.imagine(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="latents must be"):
        stream.observe(torch.zeros(2, 2, 5, 5, 3), torch.zeros(2, 2, dtype=torch.long))
