"""Dev diagnostic (docs/experiments.md, section 46): does a policy approach its target in the
real maze? Runs it on dev mazes and measures, from the true state, the steps to the current
target at every frame (Memory Maze's shortest path, as the target critic was fitted to), and
how many steps closer the agent gets per 16 steps (with distances capped at 20 steps, as the
steps potential, and uncapped), leaving out the steps where a hit moved the target. The imagined counterpart is returns_by_part.py's steps potential.

    python real_approach.py AGENT SEED_BASE EPISODES OUT.json
"""

import json
import sys
from pathlib import Path

import numpy as np

from lsswm.envs.maze_oracle import steps_to_goal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "session12"))
from dev_cells import dev_rollouts  # the dev mazes' rollouts: one implementation

MAX_STEPS = 20.0  # as the steps potential: farther counts as 20

agent_name, base, episodes, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = []
for seed, a in dev_rollouts(agent_name, base, episodes):
    keys = ("agent_pos", "agent_dir", "maze_layout", "target_pos")
    state = {k: np.asarray(a[f"state/{k}"]) for k in keys}
    steps = np.array(
        [
            steps_to_goal({k: v[t] for k, v in state.items()}, state["target_pos"][t])
            for t in range(len(state["agent_pos"]))
        ]
    )
    same_target = np.all(state["target_pos"][1:] == state["target_pos"][:-1], axis=-1)
    capped = np.minimum(steps, MAX_STEPS)
    closer = (capped[:-1] - capped[1:])[same_target]
    finite = np.isfinite(steps[:-1]) & np.isfinite(steps[1:]) & same_target
    closer_uncapped = (steps[:-1] - steps[1:])[finite]
    rows.append(
        {
            "seed": seed,
            "targets": float(np.sum(a["rewards"])),
            "closer_per_16_steps": float(closer.mean() * 16),
            "closer_per_16_steps_uncapped": float(closer_uncapped.mean() * 16),
            "share_within_8_steps": float(np.mean(steps <= 8)),
            "median_steps_to_target": float(np.median(steps)),
        }
    )
    print(rows[-1], flush=True)
summary = {
    "agent": agent_name,
    **{
        key: float(np.mean([r[key] for r in rows]))
        for key in (
            "targets",
            "closer_per_16_steps",
            "closer_per_16_steps_uncapped",
            "share_within_8_steps",
        )
    },
    "episodes": rows,
}
Path(out).write_text(json.dumps(summary, indent=1))
print({k: v for k, v in summary.items() if k != "episodes"})
