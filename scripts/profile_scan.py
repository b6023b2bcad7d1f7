"""Profile the hybrid's scan sub-layers on CPU (tiny bench size, T=800 frames, one thread).

Forward + backward of each block's BlockScan, under torch.profiler; prints the top ops by
self CPU time. Usage: .venv/bin/python scripts/profile_scan.py [--frames 800] [--rows 25]
[--chunk 32]. The committed output is docs/results/scan-profile-cpu.txt.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from lsswm.worldmodel.bench import BENCH_SIZES
from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.model import WorldModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=800)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--chunk", type=int, default=0, help="SSD chunk (0: the bench size's)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = WorldModelConfig(variant="hybrid", **BENCH_SIZES["tiny"])
    if args.chunk:
        config = config.replace(ssm_scan_chunk=args.chunk)
    torch.manual_seed(0)
    model = WorldModel(config)
    tokens = torch.randn(1, args.frames, config.latent_height, config.latent_width, config.d_model)

    def step() -> None:
        for block in model.blocks:
            x = tokens.detach().requires_grad_()
            block.scan(x)[0].sum().backward()

    step()  # warm-up
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    print(
        f"hybrid scan sub-layers (blocks {config.resolved_scan_blocks()}), forward + backward, "
        f"T={args.frames}, SSD chunk {config.ssm_scan_chunk}, 1 thread"
    )
    print(
        prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total",
            row_limit=args.rows,
            max_name_column_width=28,
            max_shapes_column_width=60,
        )
    )


if __name__ == "__main__":
    main()
