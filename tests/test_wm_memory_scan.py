"""The recall recipe: unit input gain, per-frame half-life init, action keys.

Exactness against the plain recurrence, causality and streaming for every variant with the
recipe on, and old configs (written before it) loading with the behaviour they had.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_wm_model import (
    assert_only_later_frames_change,
    assert_streams_like_the_full_pass,
    random_clip,
    randomized_model,
)

from lsswm.worldmodel.config import RECALL_RECIPE, VARIANTS, WorldModelConfig, WorldModelConfigError
from lsswm.worldmodel.mixer import Mamba2Mixer
from lsswm.worldmodel.ssd import ssd_recurrent_reference, ssd_scan

RECIPE = RECALL_RECIPE


def test_unit_input_gain_is_the_recurrence_without_dt_on_the_input():
    torch.manual_seed(0)
    mixer = Mamba2Mixer(16, 32, 8, 4, 3, scan_chunk=5, input_gain="unit").double()
    x = torch.randn(2, 13, 16, dtype=torch.float64)
    out, state = mixer(x)
    # Recompute the scan by hand: the same projections, then h = exp(dt A) h + x B^T.
    z, xbc, dt = mixer.in_proj(x).split([32, mixer.conv_dim, mixer.n_heads], dim=-1)
    padded = torch.cat([x.new_zeros(2, 2, mixer.conv_dim), xbc], dim=1)
    conv = mixer.conv_bias + sum(
        padded[:, i : i + 13] * mixer.conv_weight[:, 0, i] for i in range(3)
    )
    xs, B, C = torch.nn.functional.silu(conv).split([32, 4, 4], dim=-1)
    xs = xs.reshape(2, 13, mixer.n_heads, 8)
    dt = torch.nn.functional.softplus(dt + mixer.dt_bias)
    A = -torch.exp(mixer.A_log.float()).double()  # as the mixer computes it
    y, reference_state = ssd_recurrent_reference(
        xs, dt, A, B[:, :, None], C[:, :, None], dt_scales_input=False
    )
    torch.testing.assert_close(state.ssm, reference_state, rtol=0, atol=1e-12)
    y = y + xs * mixer.D[:, None]
    y = mixer.norm(y.reshape(2, 13, 32) * torch.nn.functional.silu(z))
    torch.testing.assert_close(out, mixer.out_proj(y), rtol=0, atol=1e-12)


def test_halflife_init_gives_the_requested_per_frame_half_lives():
    tokens_per_frame = 4
    mixer = Mamba2Mixer(
        16, 64, 8, 4, 3, 8, halflife_frames=(2.0, 500.0), tokens_per_frame=tokens_per_frame
    )
    dt = torch.nn.functional.softplus(mixer.dt_bias.detach())
    per_frame_decay = torch.exp(-dt * torch.exp(mixer.A_log.detach()) * tokens_per_frame)
    half_lives = math.log(0.5) / torch.log(per_frame_decay)
    expected = torch.exp(torch.linspace(math.log(2.0), math.log(500.0), mixer.n_heads))
    torch.testing.assert_close(half_lives, expected, rtol=1e-4, atol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_recipe_keeps_every_variant_causal(variant, tiny_config):
    config = tiny_config(variant, **RECIPE)
    model = randomized_model(config)
    latents, actions, levels = random_clip(config)
    base = model(latents, levels, actions)
    frame = 7
    changed_actions = actions.clone()
    changed_actions[:, frame] = (actions[:, frame] + 1) % config.action_size
    changed_latents = latents.clone()
    changed_latents[:, frame] += 1.0
    after = model(changed_latents, levels, changed_actions)
    assert_only_later_frames_change(config, base, after, frame)


@pytest.mark.parametrize("variant", VARIANTS)
def test_recipe_streams_exactly(variant, tiny_config):
    config = tiny_config(variant, **RECIPE)
    model = randomized_model(config)
    assert_streams_like_the_full_pass(model, *random_clip(config))


def test_action_keys_address_the_scan_and_the_attention(tiny_config):
    config = tiny_config("hybrid", **RECIPE)
    model = randomized_model(config)
    keyed = [
        block.scan_keys is not None and block.attention_keys is not None for block in model.blocks
    ]
    assert all(keyed)
    plain = randomized_model(tiny_config("hybrid", action_keys=False))
    assert all(block.scan_keys is None and block.attention_keys is None for block in plain.blocks)


def test_configs_written_before_the_recipe_keep_mamba2_behaviour(tiny_config):
    old = tiny_config("hybrid").to_dict()
    for field in ("ssm_input_gain", "ssm_halflife_frames", "action_keys"):
        old.pop(field)
    loaded = WorldModelConfig.from_dict(old)
    assert loaded.ssm_input_gain == "dt"
    assert loaded.ssm_halflife_frames == ()
    assert loaded.action_keys is False


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"ssm_input_gain": "half"}, "ssm_input_gain"),
        ({"ssm_halflife_frames": (5.0, 1.0)}, "ssm_halflife_frames"),
        ({"ssm_halflife_frames": (5.0,)}, "ssm_halflife_frames"),
    ],
)
def test_bad_recipe_values_are_refused(changes, message, tiny_config):
    with pytest.raises(ValueError, match=message):
        tiny_config("hybrid", **changes)


@pytest.mark.parametrize("chunk", [1, 4, 7, 64])
def test_unit_gain_chunked_scan_equals_the_recurrence(chunk):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 19, 4, 3, generator=generator, dtype=torch.float64)
    dt = torch.rand(2, 19, 4, generator=generator, dtype=torch.float64) * 1e-3  # slow heads
    A = -torch.rand(4, generator=generator, dtype=torch.float64) - 0.5
    B, C = torch.randn(2, 2, 19, 1, 5, generator=generator, dtype=torch.float64).unbind(0)
    start = torch.randn(2, 4, 3, 5, generator=generator, dtype=torch.float64)
    y, state = ssd_scan(x, dt, A, B, C, chunk, start, dt_scales_input=False)
    y_ref, state_ref = ssd_recurrent_reference(x, dt, A, B, C, start, dt_scales_input=False)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(state, state_ref, rtol=0, atol=1e-12)
    # A slow head's input arrives whole: not scaled down by its tiny dt.
    assert (state - start * torch.exp(dt.sum(1) * A)[..., None, None]).abs().mean() > 0.1


def test_without_content_keys_the_action_keys_are_the_scans_keys():
    # ssm_content_keys=False: B and C are the caller's keys, exactly; the content only
    # reaches the scan as the values x.
    import torch.nn.functional as F

    from lsswm.worldmodel.mixer import Mamba2Mixer
    from lsswm.worldmodel.ssd import ssd_recurrent_reference

    torch.manual_seed(0)
    mixer = Mamba2Mixer(16, 32, 8, 4, 1, 64, input_gain="unit", content_keys=False).double()
    assert mixer.in_proj.out_features == 32 + 32 + mixer.n_heads  # z, x, dt: no B, C rows
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    keys = torch.randn(2, 9, 8, dtype=torch.float64)
    out, _ = mixer(x, keys=keys)
    z, xs, dt = mixer.in_proj(x).split([32, 32, mixer.n_heads], dim=-1)
    xs = F.silu(xs * mixer.conv_weight[:, 0, 0] + mixer.conv_bias).view(2, 9, 4, 8)
    dt = F.softplus(dt + mixer.dt_bias)
    A = -torch.exp(mixer.A_log.float()).double()  # as the mixer computes it
    B, C = keys[:, :, None, :4], keys[:, :, None, 4:]
    y, _ = ssd_recurrent_reference(xs, dt, A, B, C, dt_scales_input=False)
    y = y + xs * mixer.D[:, None]
    expected = mixer.out_proj(mixer.norm(y.reshape(2, 9, 32) * F.silu(z)))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="needs `keys`"):
        mixer(x)


def test_pose_only_keys_stream_exactly_and_need_action_keys(tiny_config):
    config = tiny_config("hybrid", **RECIPE, ssm_content_keys=False)
    assert_streams_like_the_full_pass(randomized_model(config), *random_clip(config))
    with pytest.raises(WorldModelConfigError, match="ssm_content_keys=False"):
        tiny_config("hybrid", ssm_content_keys=False)
