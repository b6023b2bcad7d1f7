"""Fourier action keys: pose-addressed memory with nearly orthogonal keys for distinct poses.

The kernel property that motivates them (against the action MLP's nearly parallel keys),
causality and exact streaming with them on, their frequencies travelling in checkpoints,
and the clear errors for settings they cannot serve.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_wm_model import (
    assert_only_later_frames_change,
    assert_streams_like_the_full_pass,
    randomized_model,
)

from lsswm.worldmodel.checkpoint import load_world_model, save_world_model
from lsswm.worldmodel.config import LEGACY_DEFAULTS, WorldModelConfig, recall_recipe
from lsswm.worldmodel.model import FourierActionKeys, WorldModel

POSE = {"action_kind": "continuous", "action_size": 4}


def pose_config(tiny_config, variant="hybrid", **changes):
    return tiny_config(variant, **{**POSE, **recall_recipe("continuous"), **changes})


def headings(n: int) -> torch.Tensor:
    """(n, 4) poses at one place, turning through n headings."""
    angle = torch.arange(n) * 2 * math.pi / n
    return torch.stack([torch.zeros(n), torch.zeros(n), angle.cos(), angle.sin()], dim=-1)


def overlap(features: torch.Tensor, others: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarity between rows (of `features`, or of `features` against `others`)."""
    unit = features / features.norm(dim=-1, keepdim=True)
    other = unit if others is None else others / others.norm(dim=-1, keepdim=True)
    return unit @ other.T


def test_neighbouring_headings_get_nearly_orthogonal_fourier_features(tiny_config):
    config = pose_config(tiny_config)
    poses = headings(20)  # 18 degrees apart, one Memory Maze turn step
    fourier = overlap(FourierActionKeys(config).features(poses))
    torch.testing.assert_close(fourier.diagonal(), torch.ones(20, dtype=fourier.dtype))
    neighbours = fourier.diagonal(1).abs()
    assert neighbours.max() < 0.3, neighbours
    # The action MLP (what the keys read without them) gives neighbours nearly parallel
    # vectors: the crosstalk the Fourier features remove.
    torch.manual_seed(0)
    embedded = WorldModel(config.replace(action_key_fourier=0)).conditioning.embed_actions(poses)
    assert overlap(embedded.detach()).diagonal(1).min() > 0.9


def test_view_keys_give_tokens_that_look_the_same_way_the_same_key(tiny_config):
    config = pose_config(tiny_config, action_key_view_degrees=20.0)
    width = config.latent_width
    keys = FourierActionKeys(config)
    poses = headings(18)[None]  # (1, 18, 4): 20 degrees apart, as the columns
    per_token = keys.per_token(poses)  # (1, 18, h*w, D)
    # Column j at heading k looks where column j + 1 looks at heading k - 1 (one column
    # further round), in the same row: the same key. Other rows and directions differ.
    torch.testing.assert_close(per_token[0, 5, 0], per_token[0, 4, 1], rtol=0, atol=1e-5)
    torch.testing.assert_close(
        per_token[0, 5, width], per_token[0, 4, width + 1], rtol=0, atol=1e-5
    )
    features = keys.features(keys.token_actions(poses))[0]
    assert overlap(features[5, :1], features[5, width : width + 1]).abs().max() < 0.05  # rows
    assert overlap(features[5, :1], features[5, 1:2]).abs().max() < 0.3  # columns
    # The position and the rest of the pose pass through unchanged.
    torch.testing.assert_close(
        keys.token_actions(poses)[..., :2],
        poses[:, :, None, :2].expand(-1, -1, width * config.latent_height, -1),
    )


@pytest.mark.parametrize(
    "variant, changes",
    [
        ("hybrid", {}),
        ("causal", {}),
        ("causal-window", {}),
        ("hybrid", {"action_key_view_degrees": -20.0}),
    ],
)
def test_fourier_keys_stay_causal_and_stream_exactly(variant, changes, tiny_config):
    config = pose_config(tiny_config, variant, **changes)
    model = randomized_model(config)
    assert model.action_key_features is not None
    generator = torch.Generator().manual_seed(1)
    shape = (2, 12, config.latent_height, config.latent_width, config.latent_channels)
    latents = torch.randn(shape, generator=generator, dtype=torch.float64)
    actions = torch.rand(2, 12, 4, generator=generator, dtype=torch.float64) * 2 - 1
    levels = torch.rand(2, 12, generator=generator, dtype=torch.float64)
    full = model(latents, levels, actions)
    frame = 7
    changed = actions.clone()
    changed[:, frame] += 0.5
    assert_only_later_frames_change(config, full, model(latents, levels, changed), frame)
    assert_streams_like_the_full_pass(model, latents, actions, levels)


def test_fourier_frequencies_travel_in_the_checkpoint(tiny_config, tmp_path):
    config = pose_config(tiny_config)
    model = randomized_model(config, dtype=torch.float32)
    with torch.no_grad():
        model.action_key_features.frequencies.mul_(1.5)  # not what a fresh model would draw
    save_world_model(tmp_path / "m.safetensors", model)
    loaded = load_world_model(tmp_path / "m.safetensors")
    torch.testing.assert_close(
        loaded.action_key_features.frequencies, model.action_key_features.frequencies
    )
    latents = torch.randn(1, 6, config.latent_height, config.latent_width, config.latent_channels)
    actions, levels = torch.rand(1, 6, 4), torch.rand(1, 6)
    torch.testing.assert_close(
        loaded(latents, levels, actions).prediction, model(latents, levels, actions).prediction
    )


def test_configs_written_before_fourier_keys_load_without_them(tiny_config):
    old = pose_config(tiny_config).to_dict()
    old.pop("action_key_fourier")
    old.pop("action_key_frequency")
    assert LEGACY_DEFAULTS["action_key_fourier"] == 0
    assert WorldModelConfig.from_dict(old).action_key_fourier == 0
    assert recall_recipe("discrete").get("action_key_fourier", 0) == 0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"action_key_fourier": 7}, "even count"),
        ({"action_key_frequency": 0.0}, "action_key_frequency"),
        ({"action_keys": False}, "needs action_keys=True"),
        ({"action_kind": "discrete", "action_size": 3}, "set action_key_fourier=0"),
        ({"action_key_fourier": 0, "action_key_view_degrees": 20.0}, "needs Fourier action keys"),
    ],
)
def test_bad_fourier_key_settings_are_refused(changes, message, tiny_config):
    with pytest.raises(ValueError, match=message):
        pose_config(tiny_config, **changes)


def test_turning_action_keys_off_drops_the_fourier_keys_with_a_note(capsys):
    from lsswm.worldmodel.train.config import apply_overrides, train_preset

    preset = train_preset("memory")
    assert preset.model.action_key_fourier == 256
    config = apply_overrides(preset, ["model.action_keys=false"])
    assert config.model.action_key_fourier == 0
    assert "no action keys (model.action_keys=false)" in capsys.readouterr().err
