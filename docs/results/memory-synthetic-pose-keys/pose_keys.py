"""Are the scan's content-dependent keys the synthetic hybrid's remaining floor? With action
keys the scan's write and read keys are B + key_B and C + key_C, where B and C are read from
the token's content: every pose's key then carries a view-dependent part, and stored views
overlap by it. Train the recall-recipe hybrid without its conv (as section 29 of
docs/experiments.md) with its keys made of the pose alone (`ssm_content_keys=False`), 1500
steps, the given seeds.

    python docs/results/memory-synthetic-pose-keys/pose_keys.py pose 0,1,2 [threads]
    python docs/results/memory-synthetic-pose-keys/pose_keys.py content 0,1,2 [threads]
"""

from __future__ import annotations

import sys
from pathlib import Path

from lsswm.experiments.memory_synthetic import train_seeds_from_argv

# Both without the conv before the scan, as section 29's runs they are compared with.
KEYS = {
    "pose": {"ssm_content_keys": False, "ssm_conv_width": 1},
    "content": {"ssm_conv_width": 1},
}

if __name__ == "__main__":
    usage = "pose_keys.py pose|content SEEDS [THREADS]"
    train_seeds_from_argv(sys.argv[1:], usage, KEYS, Path("runs/synthetic-keys"))
