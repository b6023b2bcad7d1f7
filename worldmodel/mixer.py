"""Mamba2 mixer and the block-wise scan layer built on it.

Mamba2Mixer: in_proj -> short causal depthwise conv over the sequence -> SSD scan (or, with
update="delta", the gated delta rule of delta.py) -> gated RMSNorm -> out_proj. Its carried
state is (conv state: the last conv_width-1 conv inputs, SSM state), so a sequence fed in
pieces gives exactly the same result as fed whole.

BlockScan: the paper's block-wise scan. Tokens (B, T, H, W, D) are cut into spatial blocks
(b_h, b_w); each block is one sequence over (T, b_h, b_w) (frame t's b_h*b_w tokens in raster
order, then frame t+1's), scanned with its own state. Blocks are batched into the batch
dimension, so all blocks run in one scan call. A block equal to the frame is plain Mamba2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsswm.worldmodel.config import SCAN_NORMS, SCAN_READS, SCAN_UPDATES
from lsswm.worldmodel.delta import delta_scan
from lsswm.worldmodel.ssd import ssd_scan


@dataclass
class ScanState:
    """conv: (N, conv_width-1, conv_dim) last conv inputs; ssm: (N, heads, head_dim, state)."""

    conv: Tensor
    ssm: Tensor


class CausalDepthwiseConv(torch.autograd.Function):
    """Depthwise causal conv as k shifted multiply-adds: the same result as F.conv1d with
    groups=channels, but its CPU backward is many times faster for short kernels. The
    hand-written backward accumulates each tap's input gradient in place into one buffer
    (autograd's slice backward would allocate and add a full-size zero tensor per tap).

    conv_input (N, k-1+L, C) (the carried k-1 inputs, then L new ones); weight (C, 1, k);
    bias (C,) -> (N, L, C)."""

    @staticmethod
    def forward(ctx, conv_input: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        width = weight.size(-1)
        length = conv_input.size(1) - (width - 1)
        taps = conv_input[:, :length] * weight[:, 0, 0]
        product = torch.empty_like(taps)
        for tap in range(1, width):  # in place: one product buffer, not one tensor per tap
            taps.add_(torch.mul(conv_input[:, tap : tap + length], weight[:, 0, tap], out=product))
        ctx.save_for_backward(conv_input, weight)
        return taps.add_(bias)  # == bias + taps (addition commutes exactly), no new tensor

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        conv_input, weight = ctx.saved_tensors
        width = weight.size(-1)
        length = grad.size(1)
        grad_input = grad.new_zeros(
            conv_input.shape, dtype=torch.promote_types(grad.dtype, weight.dtype)
        )
        grad_weight = torch.empty_like(weight)
        product = torch.empty(grad.shape, dtype=grad_input.dtype, device=grad.device)
        for tap in range(width):
            grad_input[:, tap : tap + length].addcmul_(grad, weight[:, 0, tap])
            torch.mul(grad, conv_input[:, tap : tap + length], out=product)
            grad_weight[:, 0, tap] = product.sum(dim=(0, 1)).to(weight.dtype)
        grad_bias = grad.sum(dim=(0, 1)).to(weight.dtype)
        return grad_input.to(conv_input.dtype), grad_weight, grad_bias


class HeadRMSNorm(nn.Module):
    """RMSNorm over each head's channels (groups of ``head_dim``), one weight per channel."""

    def __init__(self, dim: int, head_dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        heads = x.unflatten(-1, (-1, self.head_dim))
        normed = F.rms_norm(heads, (self.head_dim,), eps=self.eps).flatten(-2)
        return normed * self.weight


class Mamba2Mixer(nn.Module):
    def __init__(
        self,
        d_model: int,
        d_inner: int,
        head_dim: int,
        state_size: int,
        conv_width: int,
        scan_chunk: int,
        dt_range: tuple[float, float] = (1e-3, 1e-1),
        *,
        input_gain: str = "dt",
        halflife_frames: tuple[float, float] | None = None,
        tokens_per_frame: int = 1,
        content_keys: bool = True,
        tied_keys: bool = False,
        update: str = "add",
        norm: str = "all",
        read: str = "current",
    ) -> None:
        super().__init__()
        self.d_inner = d_inner
        self.head_dim = head_dim
        self.n_heads = d_inner // head_dim
        self.state_size = state_size
        self.conv_width = conv_width
        self.scan_chunk = scan_chunk
        # False: B and C are only the caller's keys (forward's `keys`), not read from content.
        self.content_keys = content_keys
        if tied_keys and content_keys:
            raise ValueError("tied_keys needs content_keys=False (one key per token, the caller's)")
        # True: the caller's keys are one (N, L, state_size) key, both written and read with.
        self.tied_keys = tied_keys
        key_dims = 2 * state_size if content_keys else 0
        self.conv_dim = d_inner + key_dims  # conv runs over x, B and C (one group)
        if update not in SCAN_UPDATES:
            raise ValueError(f"update must be one of {SCAN_UPDATES} (got {update!r})")
        # "add": Mamba2's scan, h = a h + x B^T. "delta": the gated delta rule (delta.py), whose
        # writes replace what the key held; it reads one more projection, the write strength.
        self.update = update
        self.gate_dims = self.n_heads * (2 if update == "delta" else 1)  # dt, [beta]
        if read not in SCAN_READS:
            raise ValueError(f"read must be one of {SCAN_READS} (got {read!r})")
        if read == "past" and update != "delta":
            raise ValueError("read='past' is built for the delta rule only (update='delta')")
        # "current": a token reads the state after its own write (Mamba's order). "past": it
        # reads the state as it stood before its frame (delta.py), so a noisy frame being
        # denoised reads the memory without its own noisy write; its content still reaches
        # the output through the skip term D.
        self.read_frame_tokens = tokens_per_frame if read == "past" else None
        self.in_proj = nn.Linear(d_model, d_inner + self.conv_dim + self.gate_dims, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(self.conv_dim, 1, conv_width))
        self.conv_bias = nn.Parameter(torch.zeros(self.conv_dim))
        nn.init.kaiming_uniform_(self.conv_weight, a=math.sqrt(5))
        if input_gain not in ("dt", "unit"):
            raise ValueError(f"input_gain must be 'dt' or 'unit' (got {input_gain!r})")
        # "dt": Mamba2's discretisation, input dt * x B^T, so a slow (small dt) head also gets
        # a small input. "unit": input x B^T whatever the decay, as gated linear attention and
        # RetNet do, so a slow head still receives what it must remember.
        self.input_gain = input_gain
        # Decay rates A in [1, 16]. dt starts log-uniform in dt_range per token (Mamba2), or
        # such that the per-frame half-life (a frame is tokens_per_frame scan steps) is
        # log-uniform in halflife_frames. Inverse softplus of dt is the bias.
        A = torch.empty(self.n_heads).uniform_(1.0, 16.0)
        if halflife_frames is None:
            low, high = math.log(dt_range[0]), math.log(dt_range[1])
            dt = torch.exp(torch.rand(self.n_heads) * (high - low) + low)
        else:
            low, high = math.log(halflife_frames[0]), math.log(halflife_frames[1])
            halflife = torch.exp(torch.linspace(low, high, self.n_heads))
            dt = math.log(2.0) / (halflife * A * tokens_per_frame)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.n_heads))
        if norm not in SCAN_NORMS:
            raise ValueError(f"norm must be one of {SCAN_NORMS} (got {norm!r})")
        # "all": one RMSNorm over every head (Mamba2 with one group). "head": each head's read
        # is normalised on its own, so one head's recall keeps its scale whatever the other
        # heads hold.
        self.norm = (
            nn.RMSNorm(d_inner, eps=1e-6) if norm == "all" else HeadRMSNorm(d_inner, head_dim)
        )
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def empty_state(self, n: int, device: torch.device, dtype: torch.dtype) -> ScanState:
        # The SSM state accumulates over the whole stream: keep it in float32 at least.
        ssm_dtype = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
        return ScanState(
            conv=torch.zeros(n, self.conv_width - 1, self.conv_dim, device=device, dtype=dtype),
            ssm=torch.zeros(
                n, self.n_heads, self.head_dim, self.state_size, device=device, dtype=ssm_dtype
            ),
        )

    def forward(
        self,
        x: Tensor,
        state: ScanState | None = None,
        keys: Tensor | None = None,
        write_scale: Tensor | None = None,
    ) -> tuple[Tensor, ScanState]:
        """x: (N, L, d_model) -> (N, L, d_model) and the state after the last position.

        keys: optional (N, L, 2 * state_size), or (N, L, state_size) with tied keys, added to
        the scan's write and read keys (B, C) after the conv, so that memory can be addressed
        by what the caller knows of each position (its pose and place in the frame) rather
        than only by its noisy content; without content keys they are B and C themselves.
        write_scale: optional (N, L) factor on what each position writes to the state (the
        input of "add", the write strength of "delta"); 0 leaves the state as it was, but for
        its decay."""
        n, length, _ = x.shape
        z, xbc, gates = self.in_proj(x).split([self.d_inner, self.conv_dim, self.gate_dims], dim=-1)
        dt = gates[..., : self.n_heads]
        previous = (
            x.new_zeros(n, self.conv_width - 1, self.conv_dim) if state is None else state.conv
        )
        conv_input = torch.cat([previous, xbc], dim=1)  # (N, k-1+L, conv_dim)
        xbc = F.silu(CausalDepthwiseConv.apply(conv_input, self.conv_weight, self.conv_bias))
        new_conv = conv_input[:, conv_input.size(1) - (self.conv_width - 1) :]
        if self.content_keys:
            xs, B, C = xbc.split([self.d_inner, self.state_size, self.state_size], dim=-1)
            if keys is not None:
                key_B, key_C = keys.split(self.state_size, dim=-1)
                B, C = B + key_B, C + key_C
        elif keys is None:
            raise ValueError("this mixer has no content keys: forward needs `keys`")
        elif self.tied_keys:
            xs, B, C = xbc, keys, keys
        else:
            xs = xbc
            B, C = keys.split(self.state_size, dim=-1)
        xs = xs.reshape(n, length, self.n_heads, self.head_dim)
        dt = F.softplus(dt + self.dt_bias)
        A = -torch.exp(self.A_log.float()).to(dt.dtype)
        previous_ssm = None if state is None else state.ssm
        scale = None if write_scale is None else write_scale[..., None].to(xs.dtype)
        if self.update == "delta":
            beta = torch.sigmoid(gates[..., self.n_heads :])
            beta = beta if scale is None else beta * scale
            y, ssm = delta_scan(
                xs, dt, A, beta, B, C, self.scan_chunk, previous_ssm, self.read_frame_tokens
            )
        else:
            y, ssm = ssd_scan(
                xs if scale is None else xs * scale[..., None],
                dt,
                A,
                B[:, :, None],
                C[:, :, None],
                self.scan_chunk,
                initial_state=previous_ssm,
                dt_scales_input=self.input_gain == "dt",
            )
        y = y + xs * self.D[:, None]
        y = self.norm(y.reshape(n, length, self.d_inner) * F.silu(z))
        return self.out_proj(y), ScanState(conv=new_conv, ssm=ssm)


class BlockScan(nn.Module):
    """Block-wise scan over a (B, T, H, W, D) token grid, one sequence per (b_h, b_w) block."""

    def __init__(self, grid: tuple[int, int], block: tuple[int, int], mixer: Mamba2Mixer) -> None:
        super().__init__()
        height, width = grid
        b_h, b_w = block
        if height % b_h or width % b_w:
            raise ValueError(f"block {b_h}x{b_w} does not tile the {height}x{width} grid")
        self.grid = grid
        self.block = block
        self.n_blocks = (height // b_h) * (width // b_w)
        self.mixer = mixer

    def to_block_sequences(self, tokens: Tensor) -> Tensor:
        """(B, T, H, W, D) -> (B * n_blocks, T * b_h * b_w, D); batch-major, then blocks."""
        batch, frames, height, width, dim = tokens.shape
        b_h, b_w = self.block
        grid = tokens.reshape(batch, frames, height // b_h, b_h, width // b_w, b_w, dim)
        grid = grid.permute(0, 2, 4, 1, 3, 5, 6)  # (B, nH, nW, T, b_h, b_w, D)
        return grid.reshape(batch * self.n_blocks, frames * b_h * b_w, dim)

    def from_block_sequences(self, sequences: Tensor, batch: int, frames: int) -> Tensor:
        height, width = self.grid
        b_h, b_w = self.block
        dim = sequences.size(-1)
        grid = sequences.reshape(batch, height // b_h, width // b_w, frames, b_h, b_w, dim)
        return grid.permute(0, 3, 1, 4, 2, 5, 6).reshape(batch, frames, height, width, dim)

    def empty_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> ScanState:
        state = self.mixer.empty_state(batch * self.n_blocks, device, dtype)
        return self._per_sample(state, batch)

    def _per_sample(self, state: ScanState, batch: int) -> ScanState:
        """(B*n_blocks, ...) -> (B, n_blocks, ...): batch first, so streams can index rows."""
        return ScanState(
            conv=state.conv.reshape(batch, self.n_blocks, *state.conv.shape[1:]),
            ssm=state.ssm.reshape(batch, self.n_blocks, *state.ssm.shape[1:]),
        )

    def forward(
        self,
        tokens: Tensor,
        state: ScanState | None = None,
        keys: Tensor | None = None,
        frame_write_scale: Tensor | None = None,
    ) -> tuple[Tensor, ScanState]:
        """tokens (B, T, H, W, D); state per sample and block, (B, n_blocks, ...) tensors;
        keys: optional (B, T, H, W, 2 * state_size) scan keys; frame_write_scale: optional
        (B, T) factor on what every token of a frame writes (see Mamba2Mixer.forward)."""
        batch, frames, height, width = tokens.shape[:4]
        flat_state = None
        if state is not None:
            flat_state = ScanState(conv=state.conv.flatten(0, 1), ssm=state.ssm.flatten(0, 1))
        block_keys = None if keys is None else self.to_block_sequences(keys)
        write_scale = None
        if frame_write_scale is not None:
            per_token = frame_write_scale[:, :, None, None, None].expand(-1, -1, height, width, 1)
            write_scale = self.to_block_sequences(per_token)[..., 0]
        out, new_state = self.mixer(
            self.to_block_sequences(tokens), flat_state, block_keys, write_scale
        )
        return self.from_block_sequences(out, batch, frames), self._per_sample(new_state, batch)
