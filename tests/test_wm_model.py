"""World model skeleton: variants, causality, training pass, sizing, config."""

from __future__ import annotations

import pytest
import torch

from lsswm.worldmodel.config import (
    VARIANTS,
    WorldModelConfig,
    WorldModelConfigError,
    parse_scan_blocks,
)
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.sizing import count_parameters, equal_size_configs, match_parameter_count


def randomized_model(config: WorldModelConfig, dtype=torch.float64, seed=0) -> WorldModel:
    """AdaLN-Zero starts every block as the identity; perturb all weights so that every
    path of the network actually carries signal in these tests."""
    torch.manual_seed(seed)
    model = WorldModel(config).to(dtype)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    return model


def random_clip(config: WorldModelConfig, batch=2, frames=12, dtype=torch.float64, seed=1):
    generator = torch.Generator().manual_seed(seed)
    grid = (config.latent_height, config.latent_width, config.latent_channels)
    latents = torch.randn(batch, frames, *grid, generator=generator, dtype=dtype)
    actions = torch.randint(0, config.action_size, (batch, frames), generator=generator)
    levels = torch.rand(batch, frames, generator=generator, dtype=dtype)
    return latents, actions, levels


def assert_streams_like_the_full_pass(model: WorldModel, latents, actions, levels) -> None:
    """Observing the clip 3 frames at a time gives the full pass's predictions exactly."""
    full = model(latents, levels, actions)
    stream = model.start_stream(latents.size(0))
    parts = [
        stream.observe(latents[:, i : i + 3], actions[:, i : i + 3], levels[:, i : i + 3])
        for i in range(0, latents.size(1), 3)
    ]
    streamed = torch.cat([part.prediction for part in parts], dim=1)
    torch.testing.assert_close(streamed, full.prediction, rtol=0, atol=1e-10)


def first_affected_frame(config: WorldModelConfig, frame: int) -> int:
    """Earliest frame whose output may depend on `frame`: its chunk's first frame for
    frame-local attention (bidirectional inside a chunk), the frame itself otherwise."""
    if config.attention_kind == "frame-local":
        return frame - frame % config.chunk_size
    return frame


def assert_only_later_frames_change(config: WorldModelConfig, before, after, frame: int) -> None:
    """A change at `frame` leaves the predictions before its first affected frame exactly as
    they were, and does change the prediction from `frame` on."""
    cut = first_affected_frame(config, frame)
    torch.testing.assert_close(after.prediction[:, :cut], before.prediction[:, :cut])
    assert not torch.allclose(after.prediction[:, frame:], before.prediction[:, frame:])


def assert_causal_and_streams_exactly(config: WorldModelConfig, frame: int = 7) -> None:
    """A randomized model of ``config``: streaming gives the full pass exactly, and changing
    frame ``frame``'s latents changes no earlier output."""
    model = randomized_model(config)
    latents, actions, levels = random_clip(config)
    assert_streams_like_the_full_pass(model, latents, actions, levels)
    base = model(latents, levels, actions)
    changed = latents.clone()
    changed[:, frame] += 1.0
    assert_only_later_frames_change(config, base, model(changed, levels, actions), frame)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("frame", [4, 7])
def test_perturbing_a_frame_never_changes_earlier_outputs(variant, frame, tiny_config):
    config = tiny_config(variant)
    model = randomized_model(config)
    latents, actions, levels = random_clip(config)
    before = model(latents, levels, actions)
    latents2, actions2, levels2 = latents.clone(), actions.clone(), levels.clone()
    latents2[:, frame] += torch.randn_like(latents2[:, frame])
    actions2[:, frame] = (actions2[:, frame] + 1) % config.action_size
    levels2[:, frame] = 1.0 - levels2[:, frame]
    after = model(latents2, levels2, actions2)
    cut = first_affected_frame(config, frame)
    for name in ("prediction", "rewards", "termination_logits"):
        old, new = getattr(before, name), getattr(after, name)
        torch.testing.assert_close(new[:, :cut], old[:, :cut], rtol=0, atol=1e-12)
        assert (new[:, frame] - old[:, frame]).abs().max() > 1e-6, name  # and it does matter


def test_frame_local_attention_is_bidirectional_inside_a_chunk(tiny_config):
    config = tiny_config("hybrid")
    model = randomized_model(config)
    latents, actions, levels = random_clip(config)
    before = model(latents, levels, actions).prediction
    latents[:, 5] += 1.0  # last frame of chunk [3, 4, 5]
    after = model(latents, levels, actions).prediction
    assert (after[:, 3] - before[:, 3]).abs().max() > 1e-6


def test_hybrid_forward_backward_on_64_frame_clip(tiny_config):
    config = tiny_config("hybrid", chunk_size=5)
    torch.manual_seed(0)
    model = WorldModel(config)
    latents, actions, _ = random_clip(config, batch=2, frames=64, dtype=torch.float32)
    rewards = torch.rand(2, 64)
    terminated = torch.zeros(2, 64, dtype=torch.bool)
    out = model.training_loss(latents, actions, rewards, terminated)
    out.total.backward()
    assert torch.isfinite(out.total)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.output.weight.grad.abs().sum() > 0
    assert model.blocks[0].modulation.weight.grad.abs().sum() > 0  # AdaLN-Zero gates learn
    assert set(out.metrics) >= {"loss", "diffusion_loss", "reward_loss", "termination_loss"}


def test_continuous_actions_go_through_an_mlp(tiny_config):
    config = tiny_config("hybrid", action_kind="continuous", action_size=5)
    model = randomized_model(config)
    latents, _, levels = random_clip(config)
    actions = torch.randn(2, 12, 5, dtype=torch.float64)
    base = model(latents, levels, actions).prediction
    actions[:, 2] += 1.0
    changed = model(latents, levels, actions).prediction
    assert (changed[:, 2] - base[:, 2]).abs().max() > 1e-6


def test_variant_layer_structure(tiny_config):
    for variant in VARIANTS:
        config = tiny_config(variant)
        block = WorldModel(config).blocks[0]
        assert (block.scan is not None) == (variant in ("hybrid", "mamba2", "mamba2-fla"))
        assert (block.attention is not None) == (variant != "mamba2")
    hybrid = tiny_config("hybrid", latent_height=8, latent_width=8)
    assert hybrid.resolved_scan_blocks() == ((2, 2), (4, 4))
    assert tiny_config("mamba2-fla").resolved_scan_blocks() == ((4, 4), (4, 4))
    explicit = tiny_config("hybrid", scan_blocks=parse_scan_blocks("1x2,4x4"))
    assert [b.scan.block for b in WorldModel(explicit).blocks] == [(1, 2), (4, 4)]


@pytest.mark.parametrize(
    "changes",
    [
        {"variant": "transformer"},
        {"scan_blocks": ((3, 3), (2, 2))},
        {"scan_blocks": ((2, 2),)},
        {"d_model": 30},
        {"variant": "causal", "scan_blocks": ((2, 2), (2, 2))},
        {"action_kind": "pose"},
    ],
)
def test_invalid_configs_raise_user_facing_errors(changes, tiny_config):
    changes = dict(changes)
    with pytest.raises(WorldModelConfigError) as error:
        tiny_config(changes.pop("variant", "hybrid"), **changes)
    assert error.value.user_facing


def test_config_json_round_trip(tiny_config):
    config = tiny_config("hybrid", scan_blocks=((1, 1), (2, 2)), action_kind="continuous")
    assert WorldModelConfig.from_json(config.to_json()) == config
    assert config.action_space() == {"type": "box", "shape": [6]}
    with pytest.raises(WorldModelConfigError):
        WorldModelConfig.from_dict({**config.to_dict(), "unknown_field": 1})


def test_equal_size_configs_match_the_hybrid_parameter_count(tiny_config):
    base = tiny_config("hybrid", d_model=64, n_heads=4)
    target = count_parameters(base)
    configs = equal_size_configs(base)
    assert set(configs) == set(VARIANTS)
    for variant, config in configs.items():
        assert config.variant == variant
        assert abs(count_parameters(config) - target) / target < 0.01, variant
    assert count_parameters(base) == sum(p.numel() for p in WorldModel(base).parameters())
    bigger = match_parameter_count(base, 4 * target)
    assert bigger.d_model > base.d_model
