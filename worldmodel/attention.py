"""Multi-head attention over frame tokens with the frame masks of masks.py.

Three execution paths, one mask rule:
- CUDA training (no cache): FlexAttention with a block mask (compiled), which skips the
  masked-out blocks, so frame-local attention costs O(T) instead of O(T^2).
- CPU training: the "banded" path. Queries are cut into blocks of C frames; each block gets
  exactly the key frames the rule can allow (the previous `lookback` frames and its own), and
  the same mask_mod, densified with ``create_mask``, masks them inside
  ``scaled_dot_product_attention`` (which, unlike FlexAttention, has a CPU backward). Linear
  in T for frame-local and causal-window; one dense block for causal.
- Streaming (a key/value cache of the frames just before): the banded path again, with the
  cached frames in front of the current keys (dense for causal).

Keys are cached WITHOUT the rotary embedding; it is applied when they are used, from their
absolute frame positions. So cached entries stay valid if a stream's batch rows are swapped.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention.flex_attention import create_block_mask, create_mask, flex_attention

from lsswm.worldmodel.masks import FrameMask, token_mask_mod


def _cached_mask(builder, *args):
    """Call an lru_cache'd mask builder. Under torch.compile it is traced uncached: the mask
    is then built from constants inside the graph (dynamo would otherwise warn that it
    ignores the cache and trace through it anyway); in eager the cache saves rebuilding it."""
    if torch.compiler.is_compiling():
        return builder.__wrapped__(*args)
    return builder(*args)


@functools.cache
def _compiled_flex_attention():
    return torch.compile(flex_attention, dynamic=False)


@functools.lru_cache(maxsize=8)
def _flex_block_mask(mask: FrameMask, tokens_per_frame: int, n_frames: int, device: str):
    length = n_frames * tokens_per_frame
    mask_mod = token_mask_mod(mask, tokens_per_frame)
    return create_block_mask(mask_mod, None, None, length, length, device=device)


@functools.lru_cache(maxsize=8)
def _banded_mask(
    mask: FrameMask,
    tokens_per_frame: int,
    n_frames: int,
    cached_frames: int,
    block: int,
    lookback: int,
    device: str,
) -> Tensor:
    """Mask of the banded layout; frames numbered from the first cached frame."""
    n_blocks = math.ceil(n_frames / block)
    mask_mod = token_mask_mod(
        mask,
        tokens_per_frame,
        q_frame_start=cached_frames,
        kv_frame_start=cached_frames - lookback,
        frames_per_batch_step=block,
        n_frames=cached_frames + n_frames,
    )
    q_len, kv_len = block * tokens_per_frame, (lookback + block) * tokens_per_frame
    dense = create_mask(mask_mod, n_blocks, None, q_len, kv_len, device=device)
    return dense[:, 0][None]  # (1, n_blocks, q_len, kv_len): broadcasts over batch*heads


@functools.lru_cache(maxsize=8)
def _dense_mask(
    mask: FrameMask,
    tokens_per_frame: int,
    q_frame_start: int,
    n_q_frames: int,
    kv_frame_start: int,
    n_kv_frames: int,
    device: str,
) -> Tensor:
    mask_mod = token_mask_mod(
        mask, tokens_per_frame, q_frame_start=q_frame_start, kv_frame_start=kv_frame_start
    )
    q_len, kv_len = n_q_frames * tokens_per_frame, n_kv_frames * tokens_per_frame
    return create_mask(mask_mod, None, None, q_len, kv_len, device=device)


def flex_frame_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: FrameMask, tokens_per_frame: int
) -> Tensor:
    """FlexAttention over a whole clip: q, k, v (B, heads, T*hw, d). Compiled on CUDA."""
    n_frames = q.size(2) // tokens_per_frame
    block_mask = _cached_mask(_flex_block_mask, mask, tokens_per_frame, n_frames, str(q.device))
    attend = _compiled_flex_attention() if q.is_cuda else flex_attention
    return attend(q, k, v, block_mask=block_mask)


def banded_frame_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: FrameMask,
    tokens_per_frame: int,
    cached_frames: int = 0,
) -> Tensor:
    """SDPA computing only the key frames the mask can allow.

    q: (B, heads, n*hw, d) for n frames; k, v: (B, heads, (m+n)*hw, d) for the same frames
    preceded by m cached frames (m = cached_frames, at most the mask's lookback). Frame-local
    masks need the first cached frame to start a chunk (streams keep whole chunks).
    """
    batch, heads, length, head_dim = q.shape
    n_frames = length // tokens_per_frame
    lookback = mask.lookback_frames
    device = str(q.device)
    if lookback is None:  # causal: every earlier frame may be needed; one dense block
        dense = _cached_mask(
            _dense_mask,
            mask,
            tokens_per_frame,
            cached_frames,
            n_frames,
            0,
            cached_frames + n_frames,
            device,
        )
        return F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    if cached_frames > lookback:
        raise ValueError(f"{cached_frames} cached frames exceed the mask's lookback {lookback}")
    block = mask.query_block_frames
    n_blocks = math.ceil(n_frames / block)
    tail = (n_blocks * block - n_frames) * tokens_per_frame
    q_blocks = F.pad(q, (0, 0, 0, tail)).reshape(batch * heads, n_blocks, -1, head_dim)

    def key_blocks(t: Tensor) -> Tensor:
        padded = F.pad(t, (0, 0, (lookback - cached_frames) * tokens_per_frame, tail))
        window = (lookback + block) * tokens_per_frame
        blocks = padded.unfold(2, window, block * tokens_per_frame)  # (B, H, n, d, window)
        return blocks.transpose(-1, -2).reshape(batch * heads, n_blocks, window, head_dim)

    banded = _cached_mask(
        _banded_mask, mask, tokens_per_frame, n_frames, cached_frames, block, lookback, device
    )
    out = F.scaled_dot_product_attention(q_blocks, key_blocks(k), key_blocks(v), attn_mask=banded)
    return out.reshape(batch, heads, -1, head_dim)[:, :, :length]


def rotary_tables(
    frame_positions: Tensor, head_dim: int, base: float, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """cos/sin (L, head_dim/2) for integer frame positions; angles in float64 so that long
    streams (large positions) lose no precision."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64, device=frame_positions.device)
    inv_freq = base ** (-exponents / head_dim)
    angles = frame_positions.to(torch.float64)[:, None] * inv_freq[None]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class FrameAttention(nn.Module):
    """Multi-head self-attention over frame tokens, temporal rotary embedding, QK-norm."""

    def __init__(
        self, d_model: int, n_heads: int, mask: FrameMask, tokens_per_frame: int, rope_base: float
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.mask = mask
        self.tokens_per_frame = tokens_per_frame
        self.rope_base = rope_base
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.q_norm = nn.RMSNorm(self.head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(self.head_dim, eps=1e-6)
        self.out = nn.Linear(d_model, d_model)
        # "auto": flex on CUDA, banded SDPA elsewhere. Tests set "flex"/"banded" explicitly.
        self.backend = "auto"

    def _rotate(self, t: Tensor, first_frame: int) -> Tensor:
        n_frames = t.size(2) // self.tokens_per_frame
        frames = torch.arange(first_frame, first_frame + n_frames, device=t.device)
        positions = frames.repeat_interleave(self.tokens_per_frame)
        cos, sin = rotary_tables(positions, self.head_dim, self.rope_base, t.dtype)
        return apply_rotary(t, cos, sin)

    def forward(
        self,
        x: Tensor,
        frame_start: int = 0,
        cache: tuple[Tensor, Tensor] | None = None,
        keys: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: (B, T*hw, D) tokens of frames frame_start .. frame_start+T-1.

        keys: optional (B, T*hw, 2*D) added to the queries and keys before QK-norm, so that
        tokens can be matched by what is known of them (pose, place in the frame) and not
        only by their noisy content; cached keys include it.

        cache: (k, v) of the frames right before frame_start, each (B, heads, m*hw, d), keys
        not rotated. Returns the output and this call's own (k, v) (not rotated), which the
        stream may commit to its cache.
        """
        batch, length, d_model = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, self.head_dim)
        if keys is not None:
            qk = qkv[:, :, :2] + keys.view(batch, length, 2, self.n_heads, self.head_dim)
            qkv = torch.cat([qk, qkv[:, :, 2:]], dim=2)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, L, d)
        q, k = self.q_norm(q), self.k_norm(k)
        new_kv = (k, v)
        q = self._rotate(q, frame_start)
        if cache is None:
            k = self._rotate(k, frame_start)
            use_flex = self.backend == "flex" or (self.backend == "auto" and x.is_cuda)
            attend = flex_frame_attention if use_flex else banded_frame_attention
            out = attend(q, k, v, self.mask, self.tokens_per_frame)
        else:
            cached_k, cached_v = cache
            cached_frames = cached_k.size(2) // self.tokens_per_frame
            k = self._rotate(torch.cat([cached_k, k], dim=2), frame_start - cached_frames)
            v = torch.cat([cached_v, v], dim=2)
            out = banded_frame_attention(q, k, v, self.mask, self.tokens_per_frame, cached_frames)
        out = out.transpose(1, 2).reshape(batch, length, d_model)
        return self.out(out), new_kv
