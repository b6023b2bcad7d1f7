"""Does the scan's short causal conv limit the synthetic hybrid's recall? In the 1x1-block
layers a block's sequence is one token per frame, so Mamba2's depthwise conv (width 4) writes
a mix of the last four frames' inputs under one frame's key: a recalled view comes back
blended with its three predecessors. Train the hybrid with the conv at width `width` (1: no
conv) for 1500 steps on the given seeds, the setting of section 26 of docs/experiments.md.

    python docs/results/memory-synthetic-conv/conv_width.py 1 0,1,2 [threads]
"""

from __future__ import annotations

import sys
from pathlib import Path

from lsswm.experiments.memory_synthetic import seed_script_args, train_seeds

if __name__ == "__main__":
    width, seeds, threads = seed_script_args(sys.argv[1:], "conv_width.py WIDTH SEEDS [THREADS]")
    overrides = {"ssm_conv_width": int(width)}
    train_seeds(f"width{width}", overrides, seeds, Path("runs/synthetic-conv"), threads=threads)
