"""How the delta hybrid reads its memory (docs/experiments.md, section 45): the recall recipe
with the gated delta rule and noise-weighted writes (`hybrid-delta`), changed in what a token
reads; 1500 steps, the given seeds.

    python docs/results/memory-synthetic-read/read_seeds.py delta-past 0,1,2 [threads]
    python docs/results/memory-synthetic-read/read_seeds.py delta-tied 0 [threads]
    python docs/results/memory-synthetic-read/read_seeds.py delta-pose 0 [threads]

delta-past: each token reads the state as it stood before its frame (ssm_read="past").
delta-tied: keys from the pose alone, read with the write key (ssm_tied_keys).
delta-pose: keys from the pose alone, read key learned apart (delta-tied's control).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lsswm.experiments.memory_synthetic import train_seeds_from_argv
from lsswm.worldmodel.config import DELTA_WRITES

POSE_KEYS = {**DELTA_WRITES, "ssm_content_keys": False}
CHANGES = {
    "delta-past": {**DELTA_WRITES, "ssm_read": "past"},
    "delta-tied": {**POSE_KEYS, "ssm_tied_keys": True},
    "delta-pose": POSE_KEYS,
}

if __name__ == "__main__":
    usage = "read_seeds.py delta-past|delta-tied|delta-pose SEEDS [THREADS]"
    train_seeds_from_argv(sys.argv[1:], usage, CHANGES, Path("runs/synthetic-read"))
