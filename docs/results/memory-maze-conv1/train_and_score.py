"""The Memory Maze memory experiment with a conv-free hybrid (`ssm_conv_width=1`,
docs/experiments.md, section 31): retrain only the hybrid, on the data, tokenizer,
curriculum, seeds, batches and noise of `runs/maze-fourier` (docs/results/memory-maze-fourier/),
and score it beside that run's causal-window and causal models, which the conv does not
touch (they have no scan). Resumable.

    python docs/results/memory-maze-conv1/train_and_score.py runs/maze-fourier runs/maze-conv1
"""

from __future__ import annotations

import sys
from pathlib import Path

from lsswm.experiments.memory_retrain import MAZE_FOURIER_OVERRIDES, retrain_hybrid

if __name__ == "__main__":
    retrain_hybrid(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        MAZE_FOURIER_OVERRIDES,
        ["model.ssm_conv_width=1"],
        int(sys.argv[3]) if len(sys.argv) > 3 else 1,
    )
