"""SSD scan exactness (float64) and the block-wise scan layer."""

from __future__ import annotations

import pytest
import torch

from lsswm.worldmodel.mixer import BlockScan, Mamba2Mixer
from lsswm.worldmodel.ssd import ssd_recurrent_reference, ssd_scan

DTYPE = torch.float64


def random_scan_inputs(batch=2, length=37, heads=4, head_dim=3, groups=2, state=5, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=DTYPE)

    x = rand(batch, length, heads, head_dim)
    dt = torch.rand(batch, length, heads, generator=generator, dtype=DTYPE) * 0.5 + 0.01
    A = -(torch.rand(heads, generator=generator, dtype=DTYPE) * 2 + 0.1)
    B, C = rand(batch, length, groups, state), rand(batch, length, groups, state)
    initial = rand(batch, heads, head_dim, state)
    return x, dt, A, B, C, initial


@pytest.mark.parametrize("length", [1, 7, 16, 37])
@pytest.mark.parametrize("chunk_size", [1, 4, 8, 64])
def test_chunked_scan_equals_recurrence(length, chunk_size):
    x, dt, A, B, C, initial = random_scan_inputs(length=length)
    y, final = ssd_scan(x, dt, A, B, C, chunk_size, initial_state=initial)
    y_ref, final_ref = ssd_recurrent_reference(x, dt, A, B, C, initial_state=initial)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(final, final_ref, rtol=0, atol=1e-12)


def test_scan_without_initial_state_starts_from_zero():
    x, dt, A, B, C, _ = random_scan_inputs()
    y, final = ssd_scan(x, dt, A, B, C, 8)
    y_ref, final_ref = ssd_recurrent_reference(x, dt, A, B, C)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(final, final_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("split", [1, 5, 8, 20, 36])
def test_split_sequence_with_state_carried_equals_whole(split):
    x, dt, A, B, C, initial = random_scan_inputs(length=37)
    whole, whole_final = ssd_scan(x, dt, A, B, C, 8, initial_state=initial)
    first, state = ssd_scan(x[:, :split], dt[:, :split], A, B[:, :split], C[:, :split], 8, initial)
    second, final = ssd_scan(x[:, split:], dt[:, split:], A, B[:, split:], C[:, split:], 8, state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(final, whole_final, rtol=0, atol=1e-12)


def tiny_mixer(seed=0):
    torch.manual_seed(seed)
    return Mamba2Mixer(
        d_model=8, d_inner=16, head_dim=4, state_size=3, conv_width=4, scan_chunk=8
    ).to(DTYPE)


@pytest.mark.parametrize("split", [1, 2, 9])
def test_mixer_in_pieces_equals_whole(split):
    """Conv state + SSM state carry a sequence across calls exactly (also splits shorter
    than the conv width)."""
    mixer = tiny_mixer()
    x = torch.randn(3, 20, 8, dtype=DTYPE)
    whole, whole_state = mixer(x)
    first, state = mixer(x[:, :split])
    second, final = mixer(x[:, split:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(final.ssm, whole_state.ssm, rtol=0, atol=1e-12)
    torch.testing.assert_close(final.conv, whole_state.conv, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block", [(1, 1), (2, 2), (2, 4), (4, 4)])
def test_block_scan_equals_independent_scans_per_block(block):
    """Each block is its own sequence over (T, b_h, b_w), raster order inside a frame."""
    mixer = tiny_mixer()
    layer = BlockScan((4, 4), block, mixer)
    batch, frames = 2, 3
    tokens = torch.randn(batch, frames, 4, 4, 8, dtype=DTYPE)
    out, state = layer(tokens)
    b_h, b_w = block
    expected = torch.empty_like(tokens)
    for i in range(0, 4, b_h):
        for j in range(0, 4, b_w):
            patch = tokens[:, :, i : i + b_h, j : j + b_w]  # (B, T, b_h, b_w, D)
            sequence = patch.reshape(batch, frames * b_h * b_w, 8)
            y, _ = mixer(sequence)
            expected[:, :, i : i + b_h, j : j + b_w] = y.reshape(batch, frames, b_h, b_w, 8)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    assert state.ssm.shape[:2] == (batch, (4 // b_h) * (4 // b_w))


def test_whole_frame_block_is_plain_mamba2_over_raster_tokens():
    mixer = tiny_mixer()
    layer = BlockScan((4, 4), (4, 4), mixer)
    tokens = torch.randn(2, 3, 4, 4, 8, dtype=DTYPE)
    out, _ = layer(tokens)
    plain, _ = mixer(tokens.reshape(2, 3 * 16, 8))
    torch.testing.assert_close(out, plain.reshape(2, 3, 4, 4, 8), rtol=0, atol=0)


def test_block_scan_in_frame_pieces_carries_state_across_frames():
    mixer = tiny_mixer()
    layer = BlockScan((4, 4), (2, 2), mixer)
    tokens = torch.randn(2, 5, 4, 4, 8, dtype=DTYPE)
    whole, _ = layer(tokens)
    first, state = layer(tokens[:, :2])
    second, _ = layer(tokens[:, 2:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=0, atol=1e-12)


def test_bfloat16_scan_runs_in_float32_and_tracks_reference():
    x, dt, A, B, C, initial = random_scan_inputs(length=40)
    y, _ = ssd_scan(*(t.bfloat16() for t in (x, dt, A, B, C)), 16, initial.bfloat16())
    y_ref, _ = ssd_recurrent_reference(x, dt, A, B, C, initial)
    assert y.dtype == torch.bfloat16
    assert (y.double() - y_ref).abs().max() < 0.1 * y_ref.abs().max()


def test_causal_conv_gradients_match_autograd_of_the_taps():
    from lsswm.worldmodel.mixer import CausalDepthwiseConv

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 9, 5, generator=generator, dtype=DTYPE, requires_grad=True)
    weight = torch.randn(5, 1, 4, generator=generator, dtype=DTYPE, requires_grad=True)
    bias = torch.randn(5, generator=generator, dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(CausalDepthwiseConv.apply, (x, weight, bias))
    taps = bias + sum(x[:, t : t + 6] * weight[:, 0, t] for t in range(4))
    assert torch.equal(CausalDepthwiseConv.apply(x, weight, bias), taps)


def test_float32_scan_with_long_chunks_tracks_float64():
    """The inside-chunk decays are differences of a within-chunk cumsum: in float32 a long,
    strongly decaying chunk still matches the float64 recurrence to float32 accuracy."""
    x, dt, A, B, C, initial = random_scan_inputs(length=256, groups=1)
    A = A * 8  # total decay over a 256-step chunk reaches hundreds
    y_ref, final_ref = ssd_recurrent_reference(x, dt, A, B, C, initial)
    y, final = ssd_scan(*(t.float() for t in (x, dt, A, B, C)), 256, initial.float())
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final.double(), final_ref, rtol=1e-4, atol=1e-4)


def test_decay_scores_gradients():
    from lsswm.worldmodel.ssd import DecayScores

    generator = torch.Generator().manual_seed(0)
    steps = -torch.rand(2, 3, 4, 6, generator=generator, dtype=DTYPE)
    cumsum = steps.cumsum(-1).requires_grad_()
    CB = torch.randn(2, 3, 2, 6, 6, generator=generator, dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(DecayScores.apply, (cumsum, CB))
