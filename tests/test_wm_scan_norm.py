"""The scan output's RMSNorm per head (ssm_norm="head"): each head normalised on its own, and
the model with it causal and streaming exactly like the full pass."""

from __future__ import annotations

import pytest
import torch
from test_wm_model import assert_causal_and_streams_exactly

from lsswm.worldmodel.config import RECALL_RECIPE, WorldModelConfigError
from lsswm.worldmodel.mixer import HeadRMSNorm


def test_head_norm_normalises_each_head_on_its_own():
    torch.manual_seed(0)
    norm = HeadRMSNorm(12, 4).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    heads = x.unflatten(-1, (3, 4))
    by_hand = heads / heads.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()
    torch.testing.assert_close(norm(x), by_hand.flatten(-2) * norm.weight)
    # Scaling one head's input leaves every other head's output as it was (the norm over
    # all heads would rescale them all).
    louder = x.clone()
    louder[..., 4:8] *= 10.0
    torch.testing.assert_close(norm(louder)[..., :4], norm(x)[..., :4])
    torch.testing.assert_close(norm(louder)[..., 8:], norm(x)[..., 8:])
    whole = torch.nn.RMSNorm(12, eps=1e-6).double()
    assert not torch.allclose(whole(louder)[..., :4], whole(x)[..., :4])


@pytest.mark.parametrize("update", ["add", "delta"])
def test_head_norm_hybrid_is_causal_and_streams_exactly(tiny_config, update):
    config = tiny_config("hybrid", **RECALL_RECIPE, ssm_update=update, ssm_norm="head")
    assert_causal_and_streams_exactly(config)


def test_unknown_scan_norm_is_refused(tiny_config):
    with pytest.raises(WorldModelConfigError, match="ssm_norm must be one of all, head"):
        tiny_config("hybrid", ssm_norm="group")
