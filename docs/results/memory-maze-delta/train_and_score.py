"""The Memory Maze memory experiment with the gated delta rule and noise-weighted writes
(`ssm_update=delta`, `ssm_write_gate=signal`, docs/experiments.md, section 32): retrain only
the hybrid, on the data, tokenizer, curriculum, seeds, batches and noise of
`runs/maze-fourier` (docs/results/memory-maze-fourier/), and score it beside that run's
causal-window and causal models, which these settings do not touch (they have no scan).
Resumable.

    python docs/results/memory-maze-delta/train_and_score.py runs/maze-fourier runs/maze-delta
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
        ["model.ssm_update=delta", "model.ssm_write_gate=signal"],
        int(sys.argv[3]) if len(sys.argv) > 3 else 1,
    )
