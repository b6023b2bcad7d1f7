"""Parameter counts, and variants resized to equal parameter counts (as the paper compares).

Counting builds the model on the meta device: no memory, no initialisation cost.
"""

from __future__ import annotations

import functools

import torch

from lsswm.worldmodel.config import VARIANTS, WorldModelConfig, WorldModelConfigError


@functools.lru_cache(maxsize=1024)
def count_parameters(config: WorldModelConfig) -> int:
    from lsswm.worldmodel.model import WorldModel

    with torch.device("meta"):
        model = WorldModel(config)
    return sum(p.numel() for p in model.parameters())


def match_parameter_count(
    config: WorldModelConfig, target: int, *, tune_mlp: bool = True, max_d_model: int = 8192
) -> WorldModelConfig:
    """The config resized to about `target` parameters, all else kept.

    First the width: the valid d_model (head and SSM-head divisibility) whose count is closest
    to the target. Widths come in coarse steps, so with `tune_mlp` the MLP hidden size (via
    mlp_ratio, kept within [1, 8]) then absorbs the remainder: counts match to about 2*d_model
    parameters per layer.
    """
    candidates = []
    for d_model in range(2, max_d_model + 1, 2):
        try:
            candidates.append(config.replace(d_model=d_model))
        except WorldModelConfigError:
            continue
    if not candidates:
        raise WorldModelConfigError(f"no valid d_model up to {max_d_model} for {config}")
    # Parameter count grows with d_model: binary search the first candidate >= target.
    low, high = 0, len(candidates) - 1
    while low < high:
        middle = (low + high) // 2
        if count_parameters(candidates[middle]) < target:
            low = middle + 1
        else:
            high = middle
    nearby = candidates[max(low - 1, 0) : low + 1]
    best = min(nearby, key=lambda c: abs(count_parameters(c) - target))
    if not tune_mlp:
        return best
    return _tune_mlp_hidden(best, target)


def _tune_mlp_hidden(config: WorldModelConfig, target: int) -> WorldModelConfig:
    width = config.d_model
    hidden = int(width * config.mlp_ratio)

    def with_hidden(size: int) -> WorldModelConfig:
        # +0.5 so that int(width * ratio) gives back exactly `size`.
        return config.replace(mlp_ratio=(size + 0.5) / width)

    per_hidden_unit = count_parameters(with_hidden(hidden + 1)) - count_parameters(
        with_hidden(hidden)
    )
    wanted = hidden + round((target - count_parameters(with_hidden(hidden))) / per_hidden_unit)
    wanted = min(max(wanted, width), 8 * width)
    tuned = with_hidden(wanted)
    if abs(count_parameters(tuned) - target) < abs(count_parameters(config) - target):
        return tuned
    return config


def equal_size_configs(
    base: WorldModelConfig,
    variants: tuple[str, ...] = VARIANTS,
    target: int | None = None,
) -> dict[str, WorldModelConfig]:
    """One config per variant, each resized (d_model, then MLP width) to `target` parameters
    (default: the base config's own count). Per-layer scan blocks are dropped for variants
    without a block-wise scan."""
    target = count_parameters(base) if target is None else target
    configs = {}
    for variant in variants:
        blocks = base.scan_blocks if VARIANTS[variant].scan == "block-wise" else ()
        configs[variant] = match_parameter_count(
            base.replace(variant=variant, scan_blocks=blocks), target
        )
    return configs
