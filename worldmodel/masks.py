"""Attention masks over frames: ONE rule, used by every attention path.

`frame_attention_allowed` decides, from frame indices alone, whether a query frame may attend
a key frame. Every token of a frame shares its frame's row/column, so tokens inside one frame
always see each other (full attention within a frame). `token_mask_mod` turns the rule into a
FlexAttention ``mask_mod`` over token indices; the CPU path densifies that same mask_mod with
``create_mask`` and feeds it to ``scaled_dot_product_attention``.

Kinds:
- "frame-local": frames in chunks of C; a frame sees every frame of its own chunk
  (bidirectional) and of the previous chunk (effective window up to 2C frames).
- "causal": a frame sees all frames up to and including itself.
- "causal-window": a frame sees itself and the `window - 1` frames before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

MASK_KINDS = ("frame-local", "causal", "causal-window")

MaskMod = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class FrameMask:
    kind: str
    chunk_size: int = 5
    window: int = 10

    def __post_init__(self) -> None:
        if self.kind not in MASK_KINDS:
            raise ValueError(f"unknown mask kind {self.kind!r}; choose from {MASK_KINDS}")

    @property
    def lookback_frames(self) -> int | None:
        """How many frames before a query block's first frame any of its frames may see, when
        query blocks are aligned to `query_block_frames` (None: unbounded)."""
        if self.kind == "frame-local":
            return self.chunk_size
        if self.kind == "causal-window":
            return self.window - 1
        return None

    @property
    def query_block_frames(self) -> int:
        """Query block length for the banded CPU path: chunk-aligned for frame-local."""
        return self.chunk_size


def frame_attention_allowed(mask: FrameMask, q_frame: Tensor, k_frame: Tensor) -> Tensor:
    """The mask rule: may a token of frame `q_frame` attend a token of frame `k_frame`?"""
    if mask.kind == "frame-local":
        q_chunk = torch.div(q_frame, mask.chunk_size, rounding_mode="floor")
        k_chunk = torch.div(k_frame, mask.chunk_size, rounding_mode="floor")
        return (k_chunk == q_chunk) | (k_chunk == q_chunk - 1)
    causal = k_frame <= q_frame
    if mask.kind == "causal":
        return causal
    return causal & (k_frame > q_frame - mask.window)


def token_to_frame(token_index: Tensor, tokens_per_frame: int) -> Tensor:
    """Tokens are laid out frame by frame (space first, time last)."""
    return torch.div(token_index, tokens_per_frame, rounding_mode="floor")


def token_mask_mod(
    mask: FrameMask,
    tokens_per_frame: int,
    *,
    q_frame_start: int = 0,
    kv_frame_start: int = 0,
    frames_per_batch_step: int = 0,
    n_frames: int | None = None,
) -> MaskMod:
    """The frame rule as a FlexAttention mask_mod over token indices.

    q_idx / kv_idx count tokens from `q_frame_start` / `kv_frame_start` (a stream attends a
    key cache that starts before its queries). `frames_per_batch_step` shifts both by that many
    frames per batch index b: the banded CPU path puts one query block per b. Key frames outside
    [0, n_frames) are padding and never attended; query rows beyond n_frames are padding too and
    may attend anything (their output is dropped), which keeps every row non-empty.
    """

    def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        shift = b * frames_per_batch_step
        q_frame = q_frame_start + shift + token_to_frame(q_idx, tokens_per_frame)
        k_frame = kv_frame_start + shift + token_to_frame(kv_idx, tokens_per_frame)
        allowed = frame_attention_allowed(mask, q_frame, k_frame) & (k_frame >= 0)
        if n_frames is not None:
            allowed = (allowed & (k_frame < n_frames)) | (q_frame >= n_frames)
        return allowed

    return mask_mod


def frame_mask_matrix(mask: FrameMask, n_frames: int) -> Tensor:
    """(n_frames, n_frames) bool matrix of the rule, for documentation and tests."""
    frames = torch.arange(n_frames)
    return frame_attention_allowed(mask, frames[:, None], frames[None, :])
