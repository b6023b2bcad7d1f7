"""Frame masks: explicit small cases, and every attention path agreeing on them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_mask

from lsswm.worldmodel.attention import (
    FrameAttention,
    banded_frame_attention,
    flex_frame_attention,
)
from lsswm.worldmodel.masks import FrameMask, frame_mask_matrix, token_mask_mod, token_to_frame


def as_rows(matrix: torch.Tensor) -> list[str]:
    return ["".join("x" if allowed else "." for allowed in row) for row in matrix.tolist()]


def test_frame_local_mask_sees_own_chunk_and_previous_chunk():
    rows = as_rows(frame_mask_matrix(FrameMask("frame-local", chunk_size=2), 7))
    assert rows == [
        "xx.....",
        "xx.....",
        "xxxx...",
        "xxxx...",
        "..xxxx.",
        "..xxxx.",
        "....xxx",
    ]


def test_causal_mask():
    rows = as_rows(frame_mask_matrix(FrameMask("causal"), 4))
    assert rows == ["x...", "xx..", "xxx.", "xxxx"]


def test_causal_window_mask_sees_itself_and_window_minus_one_before():
    rows = as_rows(frame_mask_matrix(FrameMask("causal-window", window=3), 5))
    assert rows == ["x....", "xx...", "xxx..", ".xxx.", "..xxx"]


def test_paper_frame_local_window_is_at_most_ten_frames():
    matrix = frame_mask_matrix(FrameMask("frame-local", chunk_size=5), 30)
    assert matrix.sum(1).max() == 10
    assert matrix.sum(1).min() == 5  # the first chunk has no previous chunk


def test_tokens_of_one_frame_share_its_row_and_column():
    assert token_to_frame(torch.arange(8), 4).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    mask = FrameMask("causal")
    dense = create_mask(token_mask_mod(mask, 3), None, None, 9, 9, device="cpu")[0, 0]
    expected = frame_mask_matrix(mask, 3).repeat_interleave(3, 0).repeat_interleave(3, 1)
    assert torch.equal(dense, expected)


def test_offset_mask_mod_matches_the_slice_of_the_full_mask():
    """A stream's queries (frames 6..8) against its cache (frames 3..8) see what the full
    sequence's rows 6..8 see in columns 3..8."""
    mask = FrameMask("frame-local", chunk_size=3)
    mod = token_mask_mod(mask, 2, q_frame_start=6, kv_frame_start=3)
    dense = create_mask(mod, None, None, 3 * 2, 6 * 2, device="cpu")[0, 0]
    full = create_mask(token_mask_mod(mask, 2), None, None, 18, 18, device="cpu")[0, 0]
    assert torch.equal(dense, full[12:18, 6:18])


MASKS = [
    FrameMask("frame-local", chunk_size=5),
    FrameMask("frame-local", chunk_size=2),
    FrameMask("causal"),
    FrameMask("causal-window", chunk_size=5, window=4),
]


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("mask", MASKS, ids=lambda m: f"{m.kind}-C{m.chunk_size}")
@pytest.mark.parametrize("n_frames", [3, 12])
def test_flex_banded_and_dense_sdpa_agree_on_cpu(mask, n_frames):
    """FlexAttention (forward runs on CPU), the banded SDPA path and plain SDPA with the
    densified mask_mod give the same attention output."""
    torch.manual_seed(0)
    tokens = 4
    q, k, v = (torch.randn(2, 3, n_frames * tokens, 8) for _ in range(3))
    length = n_frames * tokens
    dense_mask = create_mask(token_mask_mod(mask, tokens), None, None, length, length, "cpu")
    dense = F.scaled_dot_product_attention(q, k, v, attn_mask=dense_mask)
    banded = banded_frame_attention(q, k, v, mask, tokens)
    flex = flex_frame_attention(q, k, v, mask, tokens)
    torch.testing.assert_close(banded, dense, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(flex, dense, rtol=1e-5, atol=1e-5)


def test_banded_path_has_a_backward_on_cpu():
    mask = FrameMask("frame-local", chunk_size=5)
    q, k, v = (torch.randn(1, 2, 11 * 4, 8, requires_grad=True) for _ in range(3))
    banded_frame_attention(q, k, v, mask, 4).sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_attention_module_flex_and_banded_backends_agree():
    torch.manual_seed(0)
    layer = FrameAttention(16, 2, FrameMask("frame-local", chunk_size=3), 4, 10000.0)
    x = torch.randn(2, 7 * 4, 16)
    with torch.no_grad():  # FlexAttention has no CPU backward
        layer.backend = "banded"
        banded, _ = layer(x)
        layer.backend = "flex"
        flex, _ = layer(x)
    torch.testing.assert_close(flex, banded, rtol=1e-5, atol=1e-5)
