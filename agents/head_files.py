"""Safetensors files of the agents' small networks (critic, policy prior): the weights, and
the network's config plus provenance as JSON under one metadata key. They load without
executing code."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lsswm.agents.errors import AgentError


def head_mlp(inputs: int, hidden: int, outputs: int, hidden_layers: int) -> nn.Sequential:
    """LayerNorm, then ``hidden_layers`` x (Linear, SiLU), then a Linear to ``outputs``."""
    layers: list[nn.Module] = [nn.LayerNorm(inputs)]
    for index in range(hidden_layers):
        layers += [nn.Linear(inputs if index == 0 else hidden, hidden), nn.SiLU()]
    layers.append(nn.Linear(hidden if hidden_layers else inputs, outputs))
    return nn.Sequential(*layers)


def save_head(path: str | Path, network: nn.Module, key: str, extra: dict[str, Any]) -> Path:
    """Write ``network``'s weights with ``{"config": asdict(network.config), **extra}``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {key: json.dumps({"config": asdict(network.config), **extra})}
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path), meta)
    return path


def load_head(
    path: str | Path,
    key: str,
    what: str,
    network_class: Callable[[Any], nn.Module],
    config_class: Callable[..., Any],
    device: str | torch.device = "cpu",
) -> Any:
    """The network of a file written by :func:`save_head` under ``key``, in eval mode on
    ``device``; a clear error naming ``what`` (e.g. "a critic checkpoint (lsswm agents
    fit-critic)") for a missing file or another kind of file."""
    config, weights = _read_head(path, key, what)
    network = network_class(config_class(**config))
    network.load_state_dict(weights)
    return network.to(device).eval()


def _read_head(path: str | Path, key: str, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise AgentError(f"{path} does not exist; expected {what}")
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    if key not in meta:
        raise AgentError(f"{path} is not {what}")
    return json.loads(meta[key])["config"], load_file(str(path))
