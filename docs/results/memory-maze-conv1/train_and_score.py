"""The Memory Maze memory experiment with a conv-free hybrid (`ssm_conv_width=1`,
docs/experiments.md, section 31). The same as

    python -m lsswm.experiments.memory_retrain runs/maze-fourier runs/maze-conv1 \
        --set model.ssm_conv_width=1 --threads 1

kept as the command this result was first made with:

    python docs/results/memory-maze-conv1/train_and_score.py runs/maze-fourier runs/maze-conv1
"""

from __future__ import annotations

import sys

from lsswm.experiments.memory_retrain import main

if __name__ == "__main__":
    threads = sys.argv[3] if len(sys.argv) > 3 else "1"
    main([*sys.argv[1:3], "--set", "model.ssm_conv_width=1", "--threads", threads])
