"""The gated delta rule: a linear memory whose writes replace what a key held.

Per head, with state S of shape (headdim P, state N), unit-norm keys k_t and queries q_t,
decay a_t = exp(dt_t * A) and write strength beta_t in (0, 1):

    S_t = a_t S_{t-1} + beta_t (x_t - a_t S_{t-1} k_t) k_t^T        y_t = S_t q_t

The additive scan of ssd.py (S_t = a_t S_{t-1} + x_t k_t^T) returns, when read with a key, the
sum of every value stored under overlapping keys, so views written under keys that are not
exactly orthogonal leak into each other's recalls, more the more has been written. The delta
rule first reads what the key already returns and writes only the difference, so with
beta = 1 a read with the write key returns the last value written under it exactly, whatever
the keys' overlap (Schlag et al. 2021, DeltaNet; Yang et al. 2024, Gated DeltaNet).

The chunked form: inside a chunk of Q steps the rule's sequential dependence is a unit lower
triangular system (the WY / UT transform of Yang et al.), solved once per chunk; between chunks
only the (P, N) state is passed on, as in ssd.py. ``delta_recurrent_reference`` is the plain
step-by-step recurrence it is tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lsswm.worldmodel.ssd import pad_time


def unit_keys(keys: Tensor) -> Tensor:
    """L2-normalise keys along their last dimension (the delta rule needs |k| = 1 to be a
    projection; an all-zero key stays zero)."""
    return F.normalize(keys, dim=-1, eps=1e-6)


def delta_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    beta: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    initial_state: Tensor | None = None,
    frame_tokens: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Chunked gated delta rule.

    x: (b, l, h, p) values; dt: (b, l, h) positive step sizes; A: (h,) negative decay rates;
    beta: (b, l, h) write strengths in (0, 1); B, C: (b, l, n) write and read keys, shared by
    the heads and normalised here; initial_state: (b, h, p, n) or None (zeros).
    frame_tokens: None, each step reads the state after its own write (Mamba's order); or the
    tokens per frame (the sequence starts at a frame and holds whole frames), each step reads
    the state as it stood before its frame, decayed to the step: a frame being denoised then
    reads what the memory held, not that plus its own noisy write.
    Returns y (b, l, h, p) and the final state (b, h, p, n). Runs in float32 at least: the
    triangular solve and the decays lose the long-range state in half precision.
    """
    dtype = x.dtype
    work = torch.promote_types(dtype, torch.float32)
    with torch.autocast(x.device.type, enabled=False):
        y, state = _delta_chunked(
            x.to(work),
            dt.to(work),
            A.to(work),
            beta.to(work),
            unit_keys(B.to(work)),
            unit_keys(C.to(work)),
            chunk_size,
            None if initial_state is None else initial_state.to(work),
            frame_tokens,
        )
    return y.to(dtype), state


def _delta_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    beta: Tensor,
    k: Tensor,
    q: Tensor,
    chunk_size: int,
    state: Tensor | None,
    frame_tokens: int | None = None,
) -> tuple[Tensor, Tensor]:
    batch, length, heads, head_dim = x.shape
    n = k.size(-1)
    if state is None:
        state = x.new_zeros(batch, heads, head_dim, n)
    chunk_size = max(1, min(chunk_size, length))
    if frame_tokens is not None:
        if length % frame_tokens:
            raise ValueError(f"{length} steps are not whole frames of {frame_tokens} tokens")
        # Chunks of whole frames, so a chunk's entering state holds only earlier frames.
        chunk_size = max(frame_tokens, chunk_size - chunk_size % frame_tokens)
    # Padding: dt = 0 (decay 1) and beta = 0 (no write) leave the state as it was.
    pad = (-length) % chunk_size
    x, dt, beta, k, q = (pad_time(t, pad) for t in (x, dt, beta, k, q))
    chunks, Q = x.size(1) // chunk_size, chunk_size
    # Per chunk, heads first: (b, c, h, Q, .) values, (b, c, 1, Q, n) keys shared by heads.
    X = x.reshape(batch, chunks, Q, heads, head_dim).transpose(2, 3)
    Bt = beta.reshape(batch, chunks, Q, heads).transpose(2, 3)  # (b, c, h, Q)
    K = k.reshape(batch, chunks, Q, 1, n).transpose(2, 3)
    Qr = q.reshape(batch, chunks, Q, 1, n).transpose(2, 3)
    g = torch.cumsum((dt * A).reshape(batch, chunks, Q, heads).transpose(2, 3), dim=-1)

    lower = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril(0)
    strictly_lower = lower.tril(-1)
    # decay[i, j] = exp(g_i - g_j) for i >= j: a_{j+1} ... a_i.
    decay = (g[..., :, None] - g[..., None, :]).masked_fill(~lower, float("-inf")).exp()
    KK = K @ K.transpose(-1, -2)  # (b, c, 1, Q, Q)
    # Writes inside a chunk: u_i = beta_i (x_i - a-decayed S_{i-1} k_i), where S_{i-1} holds
    # the chunk's entering state and the earlier u_j. Unrolled, u = T (beta x - beta e^g
    # S_0 k) with T = (I + tril(beta KK decay, -1))^-1: one triangular solve per chunk. The
    # solve takes the unit diagonal as given (unitriangular), so only the strict part is built.
    system = (Bt[..., :, None] * KK * decay).masked_fill(~strictly_lower, 0.0)
    rhs_values = Bt[..., None] * X  # (b, c, h, Q, p)
    rhs_keys = (Bt * g.exp())[..., None] * K  # (b, c, h, Q, n): reads of the entering state
    solved = torch.linalg.solve_triangular(
        system, torch.cat([rhs_values, rhs_keys], dim=-1), upper=False, unitriangular=True
    )
    U, W = solved.split([head_dim, n], dim=-1)  # u = U - W S_0^T per chunk

    # Inside-chunk outputs, and each chunk's write to the state at its end.
    scores = (Qr @ K.transpose(-1, -2)) * decay  # (b, c, h, Q, Q), zero above the diagonal
    if frame_tokens is not None:  # reads see only the writes of earlier frames
        frame = torch.arange(Q, device=x.device) // frame_tokens
        scores = scores.masked_fill(frame[None, :] >= frame[:, None], 0.0)
    decay_to_end = (g[..., -1:] - g).exp()[..., None]  # (b, c, h, Q, 1)
    key_end = decay_to_end * K  # (b, c, h, Q, n)
    read_scale = g.exp()[..., None] * Qr  # queries read the entering state with its decay
    chunk_total = g[..., -1].exp()  # (b, c, h)
    outputs = []
    for c in range(chunks):  # the short inter-chunk recurrence: one (p, n) state per head
        u = U[:, c] - W[:, c] @ state.transpose(-1, -2)  # (b, h, Q, p)
        outputs.append(read_scale[:, c] @ state.transpose(-1, -2) + scores[:, c] @ u)
        state = chunk_total[:, c, :, None, None] * state + u.transpose(-1, -2) @ key_end[:, c]
    y = torch.stack(outputs, dim=1).transpose(2, 3).reshape(batch, chunks * Q, heads, head_dim)
    return y[:, :length], state


def delta_recurrent_reference(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    beta: Tensor,
    B: Tensor,
    C: Tensor,
    initial_state: Tensor | None = None,
    frame_tokens: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The plain step-by-step recurrence; slow, for tests only. Same contract as delta_scan."""
    batch, length, heads, head_dim = x.shape
    k, q = unit_keys(B), unit_keys(C)
    state = (
        x.new_zeros(batch, heads, head_dim, k.size(-1))
        if initial_state is None
        else initial_state.clone()
    )
    outputs = []
    before_frame, decay_since = state, torch.ones_like(A)  # for frame_tokens reads
    for t in range(length):
        decay = torch.exp(dt[:, t] * A)[:, :, None, None]
        if frame_tokens is not None and t % frame_tokens == 0:
            before_frame, decay_since = state, torch.ones_like(decay)
        decay_since = decay_since * decay
        state = decay * state  # (b, h, p, n)
        held = state @ k[:, t, None, :, None]  # (b, h, p, 1): what the key reads now
        written = beta[:, t, :, None, None] * (x[:, t, :, :, None] - held)
        state = state + written * k[:, t, None, None, :]
        read = state if frame_tokens is None else decay_since * before_frame
        outputs.append((read @ q[:, t, None, :, None]).squeeze(-1))
    return torch.stack(outputs, dim=1), state
