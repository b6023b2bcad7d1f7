"""Is key overlap the synthetic hybrid's precision floor? Train the hybrid with its random
Fourier pose features ("rff"), or with exactly orthogonal one-hot features per view scaled to
the same norm ("onehot"), or causal attention for reference ("causal"): 1500 steps, the given
seeds (each seed changes the initialisation, batches and noise, and the held-out episodes).

    python docs/results/memory-synthetic-keys/orthogonal_keys.py onehot 0,1,2
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from lsswm.experiments.memory_synthetic import train_seeds
from lsswm.worldmodel.model import FourierActionKeys

VIEWS = 12
STEPS = 1500


def one_hot_features(self: FourierActionKeys, actions: torch.Tensor) -> torch.Tensor:
    """The view's index one-hot, scaled to the Fourier features' norm (sqrt of half their
    count), so the learned maps after it start at the same scale."""
    dtype = torch.promote_types(actions.dtype, torch.float32)
    actions = actions.to(dtype)
    angle = torch.atan2(actions[..., -1], actions[..., -2])
    view = torch.round(angle / (2 * math.pi / VIEWS)).long() % VIEWS
    width = self.frequencies.size(1) * 2
    return torch.nn.functional.one_hot(view, width).to(dtype) * math.sqrt(width / 2)


def main(mode: str, seeds: list[int]) -> None:
    if mode == "onehot":
        FourierActionKeys.features = one_hot_features
    variant = "causal" if mode == "causal" else "hybrid"
    train_seeds(mode, {}, seeds, Path("runs/synthetic-keys"), STEPS, variant=variant)


if __name__ == "__main__":
    main(sys.argv[1], [int(seed) for seed in sys.argv[2].split(",")])
