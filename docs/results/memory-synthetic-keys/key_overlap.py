"""How orthogonal are a synthetic hybrid's scan keys? Read pose i against write pose j.

    python docs/results/memory-synthetic-keys/key_overlap.py \
        runs/memory-synthetic-fourier/models/hybrid.safetensors

For the task's 12 view poses: the overlap of the raw random Fourier features, then, per scan
layer and token position, the read keys C of pose i against the write keys B of pose j,
divided by the i = j overlap (1 on the diagonal; 0 off it for perfectly separate views).
"""

from __future__ import annotations

import math
import sys

import torch

from lsswm.worldmodel.checkpoint import load_world_model

VIEWS = 12


def off_diagonal(gram: torch.Tensor) -> torch.Tensor:
    return gram[~torch.eye(gram.size(0), dtype=torch.bool)]


@torch.no_grad()
def main(path: str) -> None:
    model = load_world_model(path)
    model = model[0] if isinstance(model, tuple) else model
    angle = torch.arange(VIEWS) * 2 * math.pi / VIEWS
    poses = torch.stack([angle.cos(), angle.sin()], -1)
    keys = model.action_key_features
    raw = keys.features(poses)
    overlap = off_diagonal(raw @ raw.T / (raw.size(1) / 2))
    print(
        f"raw Fourier features: mean {overlap.mean():+.4f}, rms {overlap.pow(2).mean().sqrt():.4f}"
    )
    embedded = keys(poses)
    for layer, block in enumerate(model.blocks):
        if block.scan_keys is None:
            continue
        for position in range(model.spatial_position.size(0)):
            both = block.scan_keys(embedded + model.spatial_position[position])
            write, read = both.split(block.scan.mixer.state_size, -1)
            gram = read @ write.T
            normalised = off_diagonal(gram / gram.diag()[:, None])
            print(
                f"layer {layer} blocks {block.scan.block} position {position}: mean "
                f"{normalised.mean():+.4f}, std {normalised.std():.4f}, sum of magnitudes "
                f"per row {normalised.abs().sum() / VIEWS:.2f}"
            )


if __name__ == "__main__":
    main(sys.argv[1])
