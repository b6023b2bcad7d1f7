"""The recall-recipe hybrid with the scan output's RMSNorm taken per head instead of over all
heads, with the additive scan and with the gated delta rule (docs/experiments.md, section 40):
1500 steps, the given seeds.

    python docs/results/memory-synthetic-norm/norm_seeds.py delta-head 0,1,2 [threads]
    python docs/results/memory-synthetic-norm/norm_seeds.py add-head 0,1,2 [threads]
"""

from __future__ import annotations

import sys
from pathlib import Path

from lsswm.experiments.memory_synthetic import train_seeds_from_argv
from lsswm.worldmodel.config import DELTA_WRITES

PER_HEAD = {"ssm_norm": "head"}
CHANGES = {
    "add-head": PER_HEAD,
    "delta-head": DELTA_WRITES | PER_HEAD,
}

if __name__ == "__main__":
    usage = "norm_seeds.py add-head|delta-head SEEDS [THREADS]"
    train_seeds_from_argv(sys.argv[1:], usage, CHANGES, Path("runs/synthetic-norm"))
