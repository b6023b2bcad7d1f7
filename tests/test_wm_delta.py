"""The gated delta rule (worldmodel/delta.py): the chunked scan against the plain recurrence,
what makes it a delta rule (a write replaces what its key held), and the model with it:
causal, and streaming exactly like the full pass."""

from __future__ import annotations

import pytest
import torch
from test_wm_model import (
    assert_causal_and_streams_exactly,
    assert_only_later_frames_change,
    assert_streams_like_the_full_pass,
    random_clip,
    randomized_model,
)

from lsswm.worldmodel.config import RECALL_RECIPE, WorldModelConfigError
from lsswm.worldmodel.delta import delta_recurrent_reference, delta_scan
from lsswm.worldmodel.ssd import ssd_recurrent_reference


def random_scan_inputs(batch=3, length=37, heads=4, head_dim=8, state=6, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = randn(batch, length, heads, head_dim)
    dt = torch.nn.functional.softplus(randn(batch, length, heads))
    A = -3.0 * torch.rand(heads, generator=generator, dtype=torch.float64)
    beta = torch.rand(batch, length, heads, generator=generator, dtype=torch.float64)
    return x, dt, A, beta, randn(batch, length, state), randn(batch, length, state)


@pytest.mark.parametrize("chunk", [1, 5, 8, 37, 64])
def test_chunked_delta_scan_matches_the_recurrence(chunk):
    x, dt, A, beta, B, C = random_scan_inputs()
    start = torch.randn(3, 4, 8, 6, dtype=torch.float64)
    y_ref, state_ref = delta_recurrent_reference(x, dt, A, beta, B, C, start)
    y, state = delta_scan(x, dt, A, beta, B, C, chunk, start)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(state, state_ref, rtol=0, atol=1e-12)


def test_chunked_delta_scan_gradients_match_the_recurrence():
    inputs = [t.requires_grad_() for t in random_scan_inputs(length=19)]
    weights = torch.randn(3, 19, 4, 8, dtype=torch.float64)
    (delta_scan(*inputs, 8)[0] * weights).sum().backward()
    chunked = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    (delta_recurrent_reference(*inputs)[0] * weights).sum().backward()
    for mine, reference in zip(chunked, (t.grad for t in inputs), strict=True):
        torch.testing.assert_close(mine, reference, rtol=0, atol=1e-10)


def test_delta_scan_in_pieces_equals_the_whole():
    x, dt, A, beta, B, C = random_scan_inputs()
    whole, final = delta_scan(x, dt, A, beta, B, C, 8)
    first, middle = delta_scan(x[:, :20], dt[:, :20], A, beta[:, :20], B[:, :20], C[:, :20], 8)
    rest, end = delta_scan(x[:, 20:], dt[:, 20:], A, beta[:, 20:], B[:, 20:], C[:, 20:], 8, middle)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(end, final, rtol=0, atol=1e-12)


def test_a_write_replaces_what_its_key_held_whatever_the_overlap():
    """Write v1 under k1, then v2 under an overlapping k2, then v3 under k1 again; no decay,
    full write strength. Read with k1, the delta rule returns v3 exactly; the additive scan
    returns v1 + v3 plus v2 times the keys' overlap."""
    k1 = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    k2 = torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64)  # overlap 0.6 with k1
    values = torch.tensor([[1.0, -2.0], [5.0, 3.0], [-4.0, 0.5]], dtype=torch.float64)
    keys = torch.stack([k1, k2, k1])[None]  # (1, 3, 3)
    x = values[None, :, None]  # (1, 3, heads=1, 2)
    no_decay = torch.zeros(1, 3, 1, dtype=torch.float64)
    A = -torch.ones(1, dtype=torch.float64)
    full_writes = torch.ones(1, 3, 1, dtype=torch.float64)
    y, _ = delta_scan(x, no_decay, A, full_writes, keys, keys, chunk_size=2)
    torch.testing.assert_close(y[0, -1, 0], values[2], rtol=0, atol=1e-12)
    additive, _ = ssd_recurrent_reference(
        x, no_decay, A, keys[:, :, None], keys[:, :, None], dt_scales_input=False
    )
    torch.testing.assert_close(
        additive[0, -1, 0], values[0] + values[2] + 0.6 * values[1], rtol=0, atol=1e-12
    )


def test_delta_scan_keeps_the_input_dtype_under_autocast():
    x, dt, A, beta, B, C = (t.float() for t in random_scan_inputs())
    reference, _ = delta_scan(x, dt, A, beta, B, C, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = delta_scan(x.bfloat16(), dt, A, beta, B, C, 8)
    assert y.dtype == torch.bfloat16 and state.dtype == torch.float32
    torch.testing.assert_close(y.float(), reference, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("recipe", [{}, RECALL_RECIPE], ids=["mamba2", "recall-recipe"])
def test_delta_hybrid_is_causal_and_streams_exactly(tiny_config, recipe):
    assert_causal_and_streams_exactly(tiny_config("hybrid", **recipe, ssm_update="delta"))


def test_unknown_scan_update_is_refused(tiny_config):
    with pytest.raises(WorldModelConfigError, match="ssm_update must be one of add, delta"):
        tiny_config("hybrid", ssm_update="replace")


@pytest.mark.parametrize("update", ["add", "delta"])
def test_write_scale_zero_stores_nothing_and_one_changes_nothing(update):
    from lsswm.worldmodel.mixer import Mamba2Mixer

    torch.manual_seed(0)
    mixer = Mamba2Mixer(16, 32, 8, 4, 3, 5, input_gain="unit", update=update).double()
    x = torch.randn(2, 13, 16, dtype=torch.float64)
    plain, plain_state = mixer(x)
    same, same_state = mixer(x, write_scale=torch.ones(2, 13, dtype=torch.float64))
    torch.testing.assert_close(same, plain, rtol=0, atol=0)
    torch.testing.assert_close(same_state.ssm, plain_state.ssm, rtol=0, atol=0)
    _, nothing = mixer(x, write_scale=torch.zeros(2, 13, dtype=torch.float64))
    assert torch.count_nonzero(nothing.ssm) == 0 and torch.count_nonzero(plain_state.ssm) > 0


@pytest.mark.parametrize("update", ["add", "delta"])
def test_signal_gated_hybrid_is_causal_and_streams_exactly(tiny_config, update):
    """The gate scales each frame's writes by its noise level: the stream (which observes
    frames at their levels) still gives the full pass exactly, and nothing leaks backwards."""
    config = tiny_config("hybrid", **RECALL_RECIPE, ssm_update=update, ssm_write_gate="signal")
    model = randomized_model(config)
    latents, actions, levels = random_clip(config)
    assert_streams_like_the_full_pass(model, latents, actions, levels)
    base = model(latents, levels, actions)
    changed_levels = levels.clone()
    changed_levels[:, 7] = 0.9
    assert_only_later_frames_change(config, base, model(latents, changed_levels, actions), 7)


def test_tied_keys_read_with_the_write_key():
    """ssm_tied_keys: the caller gives one key per token, and the scan writes and reads with
    it (B = C): the mixer is the delta recurrence with the same keys on both sides (that a
    read with the write key returns the last write is test_a_write_replaces_...'s)."""
    import torch.nn.functional as F

    from lsswm.worldmodel.mixer import Mamba2Mixer

    torch.manual_seed(0)
    mixer = Mamba2Mixer(
        16, 32, 8, 4, 1, 64, input_gain="unit", content_keys=False, tied_keys=True, update="delta"
    ).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    keys = torch.randn(2, 9, 4, dtype=torch.float64)
    out, _ = mixer(x, keys=keys)
    z, xs, gates = mixer.in_proj(x).split([32, 32, 2 * mixer.n_heads], dim=-1)
    xs = F.silu(xs * mixer.conv_weight[:, 0, 0] + mixer.conv_bias).view(2, 9, 4, 8)
    dt = F.softplus(gates[..., :4] + mixer.dt_bias)
    beta = torch.sigmoid(gates[..., 4:])
    A = -torch.exp(mixer.A_log.float()).double()
    y, _ = delta_recurrent_reference(xs, dt, A, beta, keys, keys)
    y = y + xs * mixer.D[:, None]
    expected = mixer.out_proj(mixer.norm(y.reshape(2, 9, 32) * F.silu(z)))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_tied_keys_hybrid_streams_exactly_and_needs_pose_only_keys(tiny_config):
    config = tiny_config(
        "hybrid", **RECALL_RECIPE, ssm_update="delta", ssm_content_keys=False, ssm_tied_keys=True
    )
    assert_causal_and_streams_exactly(config)
    with pytest.raises(
        WorldModelConfigError, match=r"ssm_tied_keys=True .* ssm_content_keys=False"
    ):
        tiny_config("hybrid", **RECALL_RECIPE, ssm_tied_keys=True)


@pytest.mark.parametrize(
    ("chunk", "frame_tokens"), [(1, 1), (5, 1), (64, 1), (6, 3), (8, 4), (64, 4)]
)
def test_reads_before_the_frame_match_the_recurrence(chunk, frame_tokens):
    """ssm_read='past': a step reads the state as it stood before its frame (decayed to the
    step), chunked exactly as step by step, and never its own frame's writes."""
    x, dt, A, beta, B, C = random_scan_inputs(length=36)
    start = torch.randn(3, 4, 8, 6, dtype=torch.float64)
    y_ref, state_ref = delta_recurrent_reference(x, dt, A, beta, B, C, start, frame_tokens)
    y, state = delta_scan(x, dt, A, beta, B, C, chunk, start, frame_tokens)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(state, state_ref, rtol=0, atol=1e-12)
    # The state moves on as before; only the reads change, and a frame's values do not reach
    # its own reads.
    _, state_current = delta_scan(x, dt, A, beta, B, C, chunk, start)
    torch.testing.assert_close(state, state_current, rtol=0, atol=1e-12)
    changed = x.clone()
    changed[:, frame_tokens * 5 : frame_tokens * 6] += 1.0  # frame 5's values
    y_changed, _ = delta_scan(changed, dt, A, beta, B, C, chunk, start, frame_tokens)
    torch.testing.assert_close(y_changed[:, : frame_tokens * 6], y[:, : frame_tokens * 6])
    assert (y_changed[:, frame_tokens * 6 :] - y[:, frame_tokens * 6 :]).abs().max() > 1e-3


def test_past_reads_hybrid_is_causal_and_streams_exactly(tiny_config):
    config = tiny_config(
        "hybrid", **RECALL_RECIPE, ssm_update="delta", ssm_write_gate="signal", ssm_read="past"
    )
    assert_causal_and_streams_exactly(config)
    with pytest.raises(WorldModelConfigError, match="ssm_read='past' is built for the delta"):
        tiny_config("hybrid", ssm_read="past")
    with pytest.raises(WorldModelConfigError, match="ssm_read must be one of current, past"):
        tiny_config("hybrid", ssm_update="delta", ssm_read="later")
