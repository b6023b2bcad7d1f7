"""Mamba2's state-space dual (SSD) scan in chunked form, in pure PyTorch.

The recurrence per head (state h of shape (headdim P, state N)):

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T        y_t = h_t C_t

The chunked algorithm splits the sequence into chunks of Q steps: inside a chunk the output is
a masked (decay-weighted) attention-like matmul; between chunks only the (P, N) state is
passed on. Every step is an einsum/matmul, so it runs on tensor cores and batches over
everything but the short inter-chunk recurrence.

On CUDA, when ``mamba_ssm`` is importable, the same call dispatches to its fused Triton kernel
``mamba_chunk_scan_combined`` (same inputs, same outputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

try:  # mamba_ssm imports Triton at import time: it only loads on CUDA machines.
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined as _fused_scan
except Exception:  # any import failure (no CUDA, no Triton) means "not available"
    _fused_scan = None


def fused_scan_available() -> bool:
    return _fused_scan is not None


def segment_sum(x: Tensor) -> Tensor:
    """(..., T) -> (..., T, T) with out[i, j] = x[j+1] + ... + x[i] for i >= j, -inf above.

    exp() of it is the decay from step j to step i. Built from a masked cumsum (not a
    difference of cumsums) so it stays exact for long chunks.
    """
    length = x.size(-1)
    x = x[..., None].expand(*x.shape, length)  # [..., i, j] = x[i]
    strictly_lower = torch.ones(length, length, dtype=torch.bool, device=x.device).tril(-1)
    summed = torch.cumsum(x.masked_fill(~strictly_lower, 0.0), dim=-2)
    lower = torch.ones(length, length, dtype=torch.bool, device=x.device).tril(0)
    return summed.masked_fill(~lower, float("-inf"))


def pad_time(t: Tensor, pad: int) -> Tensor:
    """Zeros appended along dim 1 (time) of a (b, l, ...) tensor: padding a scan to whole
    chunks. Zero dt (decay 1) and zero writes leave the final state that of the last real
    step."""
    return F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) if pad else t


def _heads_from_groups(t: Tensor, n_heads: int) -> Tensor:
    """(b, l, g, n) -> (b, l, h, n): head i uses group i // (h / g), as in Mamba2."""
    groups = t.size(2)
    if groups == n_heads:
        return t
    return t.repeat_interleave(n_heads // groups, dim=2)


def ssd_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    initial_state: Tensor | None = None,
    *,
    dt_scales_input: bool = True,
) -> tuple[Tensor, Tensor]:
    """Chunked SSD scan.

    x: (b, l, h, p) inputs; dt: (b, l, h) positive step sizes (already softplus-ed);
    A: (h,) negative decay rates; B, C: (b, l, g, n) with g dividing h;
    initial_state: (b, h, p, n) or None (zeros).
    dt_scales_input: the input is dt * x B^T (Mamba2); False makes it x B^T (unit gain).
    Returns y (b, l, h, p) and the final state (b, h, p, n). Any length l works.
    """
    if _fused_scan is not None and x.is_cuda and x.dtype != torch.float64:
        # The fused kernel always multiplies by dt: unit gain passes x / dt to it.
        fused_input = x if dt_scales_input else x / dt[..., None]
        y, final_state = _fused_scan(
            fused_input.contiguous(),
            dt.contiguous(),
            A.contiguous(),
            B.contiguous(),
            C.contiguous(),
            chunk_size,
            initial_states=None if initial_state is None else initial_state.contiguous(),
            return_final_states=True,
        )
        return y, final_state
    if x.dtype in (torch.float16, torch.bfloat16) or torch.is_autocast_enabled(x.device.type):
        # cumsum/exp of decays in half precision lose the long-range state, and autocast would
        # run the decay-weighted matmuls (scores, the inter-chunk state recurrence) in bf16:
        # scan in float32 with autocast off, return the input's dtype.
        with torch.autocast(x.device.type, enabled=False):
            y, final_state = _ssd_scan_torch(
                x.float(),
                dt.float(),
                A.float(),
                B.float(),
                C.float(),
                chunk_size,
                None if initial_state is None else initial_state.float(),
                dt_scales_input,
            )
        return y.to(x.dtype), final_state
    return _ssd_scan_torch(x, dt, A, B, C, chunk_size, initial_state, dt_scales_input)


class DecayScores(torch.autograd.Function):
    """Inside-chunk scores C_i B_j^T * exp(cumsum_i - cumsum_j) for i >= j, 0 above.

    cumsum (b, c, h, q): decay since the chunk start per head; CB (b, c, g, q, q) per group
    (head k uses group k // (h / g)). Returns (b, c, h, q, q). Written out by hand because
    these q x q tensors are the scan's largest: the forward builds the decays in place and the
    backward needs four passes over them (autograd's chain of sub, masked_fill, exp and mul
    takes about twice as many, each allocating)."""

    @staticmethod
    def forward(ctx, cumsum: Tensor, CB: Tensor) -> Tensor:
        b, c, h, q = cumsum.shape
        g = CB.size(2)
        decay = cumsum[..., :, None] - cumsum[..., None, :]
        upper = torch.ones(q, q, dtype=torch.bool, device=cumsum.device).triu(1)
        decay = decay.masked_fill_(upper, float("-inf")).exp_()
        scores = decay.view(b, c, g, h // g, q, q) * CB[:, :, :, None]
        scores = scores.view(b, c, h, q, q)
        ctx.save_for_backward(decay, CB, scores)
        return scores

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        decay, CB, scores = ctx.saved_tensors
        b, c, h, q, _ = decay.shape
        g = CB.size(2)
        grad_CB = (grad * decay).view(b, c, g, h // g, q, q).sum(3)
        # d scores[i, j] / d cumsum_i = scores[i, j] = -d scores[i, j] / d cumsum_j.
        log_grad = grad * scores
        grad_cumsum = log_grad.sum(-1) - log_grad.sum(-2)
        return grad_cumsum, grad_CB


def _ssd_scan_torch(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    initial_state: Tensor | None,
    dt_scales_input: bool = True,
) -> tuple[Tensor, Tensor]:
    batch, length, n_heads, head_dim = x.shape
    groups, state_size = B.shape[2], B.shape[3]
    if initial_state is None:
        initial_state = x.new_zeros(batch, n_heads, head_dim, state_size)

    # Any chunk length gives the same result; a short sequence needs no padding to a long one.
    chunk_size = max(1, min(chunk_size, length))
    # Pad to whole chunks. dt = 0 on padding means decay 1 and no input, so the final state
    # is the state after the last real step.
    pad = (-length) % chunk_size
    x, dt, B, C = (pad_time(t, pad) for t in (x, dt, B, C))
    n_chunks = x.size(1) // chunk_size
    b, c, q, h, p, g, n = batch, n_chunks, chunk_size, n_heads, head_dim, groups, state_size

    # Layout (b, c, q, heads, ...): the input's own order. Heads are (group, head in group):
    # B and C are per group, so C B^T is computed once per group, not repeated per head.
    X = (x * dt[..., None] if dt_scales_input else x).reshape(b, c, q, h, p)  # dt * x, or x
    Bg = B.reshape(b, c, q, g, n).transpose(2, 3)  # (b, c, g, q, n); a view when g == 1
    Cg = C.reshape(b, c, q, g, n).transpose(2, 3)
    A_cumsum = torch.cumsum((dt * A).reshape(b, c, q, h), dim=2)  # decay since chunk start
    cumsum = A_cumsum.transpose(2, 3)  # (b, c, h, q)
    X_heads = X.transpose(2, 3).contiguous()  # (b, c, h, q, p) for the per-head matmuls

    # 1. Inside each chunk: y = (C B^T * decay) X, decay[i, j] = exp(cumsum_i - cumsum_j) for
    # i >= j. The within-chunk cumsum resets every chunk, so the difference loses at most a
    # few ulps of the chunk's total decay (docs/training.md, "Scan cost on CPU").
    CB = Cg @ Bg.transpose(-1, -2)  # (b, c, g, q, q): one per group, not per head
    y_inside = DecayScores.apply(cumsum, CB) @ X_heads  # (b, c, h, q, p)

    # Per-head keys with the decays folded in (n columns, fewer than the p of X and y).
    def per_head(keys: Tensor, decay: Tensor) -> Tensor:  # (b,c,g,q,n), (b,c,h,q) -> (b,c,h,q,n)
        return (keys[:, :, :, None] * decay.view(b, c, g, h // g, q, 1)).view(b, c, h, q, n)

    # 2. Each chunk's own contribution to the state at its end: (b, c, h, p, n).
    decay_to_end = torch.exp(cumsum[..., -1:] - cumsum)  # (b, c, h, q)
    chunk_states = X_heads.transpose(-1, -2) @ per_head(Bg, decay_to_end)

    # 3. Pass states across chunk boundaries (short recurrence written as one matmul).
    states = torch.cat([initial_state[:, None], chunk_states], dim=1)  # (b, c+1, h, p, n)
    chunk_totals = F.pad(cumsum[..., -1].transpose(1, 2), (1, 0))  # (b, h, c+1)
    chunk_decay = torch.exp(segment_sum(chunk_totals))  # (b, h, c+1, c+1)
    states = torch.einsum("bhzc,bchpn->bzhpn", chunk_decay, states)
    entering_states, final_state = states[:, :-1], states[:, -1]

    # 4. The state entering each chunk, read out by C with the decay since the chunk start.
    y_from_state = per_head(Cg, torch.exp(cumsum)) @ entering_states.transpose(-1, -2)

    y = (y_inside + y_from_state).transpose(2, 3).reshape(b, c * q, h, p)
    return y[:, :length], final_state


def ssd_recurrent_reference(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    initial_state: Tensor | None = None,
    *,
    dt_scales_input: bool = True,
) -> tuple[Tensor, Tensor]:
    """The plain step-by-step recurrence; slow, for tests only. Same contract as ssd_scan."""
    batch, length, n_heads, head_dim = x.shape
    B = _heads_from_groups(B, n_heads)
    C = _heads_from_groups(C, n_heads)
    state = (
        x.new_zeros(batch, n_heads, head_dim, B.size(-1))
        if initial_state is None
        else initial_state.clone()
    )
    outputs = []
    for t in range(length):
        decay = torch.exp(dt[:, t] * A)[:, :, None, None]  # (b, h, 1, 1)
        gain = dt[:, t, :, None] if dt_scales_input else 1.0
        update = (gain * x[:, t])[..., None] * B[:, t, :, None, :]  # (b, h, p, n)
        state = decay * state + update
        outputs.append((state * C[:, t, :, None, :]).sum(-1))
    return torch.stack(outputs, dim=1), state
