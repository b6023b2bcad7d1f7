"""CUDA checks (marker ``cuda``; skipped without a CUDA device). scripts/gpu-check.sh runs
them: compiled FlexAttention forward and backward against the SDPA path and a float64
reference, streaming against the full pass, the bf16 loss against float32, and the fused
mamba_ssm scan against the PyTorch scan when it is installed."""

from __future__ import annotations

import pytest
import torch
from test_wm_model import random_clip, randomized_model

from lsswm.worldmodel.config import VARIANTS

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA device; this machine has none (scripts/gpu-check.sh runs these on one)",
    ),
]
DEVICE = "cuda"


def _qkv(frames, tokens, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    qkv = torch.randn(3, 2, 4, frames * tokens, 32, generator=generator, dtype=torch.float64)
    return [t.to(DEVICE, dtype).requires_grad_() for t in qkv.unbind(0)]


def _dense_reference(q, k, v, mask, tokens):
    """float64 softmax attention with the frame rule as a dense mask."""
    from lsswm.worldmodel.masks import frame_mask_matrix

    allowed = frame_mask_matrix(mask, q.size(2) // tokens).to(q.device)
    allowed = allowed.repeat_interleave(tokens, 0).repeat_interleave(tokens, 1)
    scores = (q @ k.transpose(-1, -2)) / q.size(-1) ** 0.5
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v


@pytest.mark.parametrize("kind", ["frame-local", "causal", "causal-window"])
def test_compiled_flex_forward_backward_equal_sdpa_and_float64(kind):
    from lsswm.worldmodel.attention import banded_frame_attention, flex_frame_attention
    from lsswm.worldmodel.masks import FrameMask

    mask, tokens, frames = FrameMask(kind, chunk_size=5, window=10), 64, 40
    q, k, v = _qkv(frames, tokens, torch.float32)
    out = flex_frame_attention(q, k, v, mask, tokens)  # compiled on CUDA
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
    sdpa = banded_frame_attention(q2, k2, v2, mask, tokens)
    sdpa_grads = torch.autograd.grad(sdpa.square().sum(), (q2, k2, v2))
    q3, k3, v3 = (t.detach().double().requires_grad_() for t in (q, k, v))
    exact = _dense_reference(q3, k3, v3, mask, tokens)
    exact_grads = torch.autograd.grad(exact.square().sum(), (q3, k3, v3))
    torch.testing.assert_close(out, sdpa, rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(out.double(), exact, rtol=2e-3, atol=2e-3)
    for g, g_sdpa, g_exact in zip(grads, sdpa_grads, exact_grads, strict=True):
        torch.testing.assert_close(g, g_sdpa, rtol=5e-3, atol=5e-3)
        torch.testing.assert_close(g.double(), g_exact, rtol=5e-3, atol=5e-3)


@pytest.mark.parametrize("variant", VARIANTS)
def test_streaming_equals_full_pass_on_cuda(variant, tiny_config):
    config = tiny_config(variant)
    model = randomized_model(config, dtype=torch.float32).to(DEVICE).eval()
    latents, actions, levels = (t.to(DEVICE) for t in random_clip(config, frames=12))
    latents, levels = latents.float(), levels.float()
    with torch.no_grad():
        full = model(latents, levels, actions).prediction
        state = model.empty_layer_states(latents.size(0), torch.device(DEVICE), torch.float32)
        pieces = []
        for start in range(0, 12, config.chunk_size):
            end = start + config.chunk_size
            out = model(
                latents[:, start:end],
                levels[:, start:end],
                actions[:, start:end],
                frame_start=start,
                state=state,
            )
            state = _merge(config, state, out)
            pieces.append(out.prediction)
    torch.testing.assert_close(torch.cat(pieces, 1), full, rtol=1e-3, atol=1e-3)


def _merge(config, state, out):
    """The next call's state: scan states as returned, KV caches of the last frames kept."""
    from lsswm.worldmodel.model import LayerState

    keep = config.kv_cache_frames
    merged = []
    for old, new in zip(state, out.layer_states, strict=True):
        k = v = None
        if new.k is not None:
            k = new.k if old.k is None else torch.cat([old.k, new.k], 2)
            v = new.v if old.v is None else torch.cat([old.v, new.v], 2)
            if keep is not None:
                k = k[:, :, k.size(2) - keep * config.tokens_per_frame :]
                v = v[:, :, v.size(2) - keep * config.tokens_per_frame :]
        merged.append(LayerState(scan=new.scan, k=k, v=v))
    return merged


@pytest.mark.parametrize("variant", VARIANTS)
def test_bf16_loss_tracks_float32_on_cuda(variant, tiny_config):
    config = tiny_config(variant)
    model = randomized_model(config, dtype=torch.float32).to(DEVICE)
    latents, actions, _ = (t.to(DEVICE) for t in random_clip(config, frames=12))
    latents = latents.float()
    torch.manual_seed(0)
    loss32 = model.training_loss(latents, actions).total
    with torch.autocast("cuda", torch.bfloat16):
        torch.manual_seed(0)
        loss16 = model.training_loss(latents, actions).total
    loss16.backward()
    torch.testing.assert_close(loss16.detach(), loss32.detach(), rtol=5e-2, atol=1e-3)


@pytest.mark.parametrize("carried_state", [False, True])
def test_fused_scan_equals_torch_scan(carried_state):
    from test_wm_ssd import random_scan_inputs

    from lsswm.worldmodel.ssd import _ssd_scan_torch, fused_scan_available, ssd_scan

    if not fused_scan_available():
        pytest.skip(
            "mamba_ssm is not installed: it ships no wheel for this torch and CUDA, and its "
            "source build needs nvcc and a package index (pip install mamba-ssm on such a "
            "machine); without it lsswm runs the PyTorch scan, tested on every machine"
        )
    inputs = random_scan_inputs(length=300, heads=4, head_dim=16, groups=1, state=32)
    x, dt, A, B, C, initial = [t.float().to(DEVICE) for t in inputs]
    initial = initial if carried_state else None
    y, final = ssd_scan(x, dt, A, B, C, 64, initial_state=initial)
    y_ref, final_ref = _ssd_scan_torch(x, dt, A, B, C, 64, initial)
    torch.testing.assert_close(y, y_ref, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(final, final_ref, rtol=1e-3, atol=1e-3)
