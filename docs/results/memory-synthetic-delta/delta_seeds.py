"""The recall-recipe hybrid with the gated delta rule, with and without noise-weighted
writes, and the additive scan with noise-weighted writes (docs/experiments.md, section 32):
1500 steps, the given seeds.

    python docs/results/memory-synthetic-delta/delta_seeds.py delta-signal 0,1,2 [threads]
    python docs/results/memory-synthetic-delta/delta_seeds.py delta 0 [threads]
    python docs/results/memory-synthetic-delta/delta_seeds.py add-signal 0 [threads]
"""

from __future__ import annotations

import sys
from pathlib import Path

from lsswm.experiments.memory_synthetic import train_seeds_from_argv
from lsswm.worldmodel.config import DELTA_WRITES

CHANGES = {
    "delta-signal": DELTA_WRITES,
    "delta": {"ssm_update": "delta"},
    "add-signal": {"ssm_write_gate": "signal"},
}

if __name__ == "__main__":
    usage = "delta_seeds.py delta-signal|delta|add-signal SEEDS [THREADS]"
    train_seeds_from_argv(sys.argv[1:], usage, CHANGES, Path("runs/synthetic-delta"))
