"""Dev diagnostic (docs/experiments.md, sections 37-39): targets, distinct cells visited
(from the true state), mean speed and the share of plain "forward" actions per episode of one
agent on dev mazes, 500 steps. Usage: dev_cells.py AGENT SEED_BASE EPISODES OUT.json"""

import json
import sys
from pathlib import Path

import numpy as np

from lsswm.agents.agent_factory import make_agent
from lsswm.agents.real_env import make_real_env
from lsswm.collect.rollout import rollout_episode


def dev_rollouts(agent_name: str, base: int, episodes: int):
    """(seed, the episode's arrays, true state included) for AGENT on mazes base.. (500 steps);
    the other dev diagnostics read their episodes from here."""
    env = make_real_env("lsswm/MemoryMaze-9x9-v0", 500)
    agent = make_agent(agent_name, env, seed=0)
    for seed in range(base, base + episodes):
        yield seed, rollout_episode(env, agent, seed, 500).arrays


if __name__ == "__main__":
    agent_name, base, episodes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = sys.argv[4]
    rows = []
    for seed, a in dev_rollouts(agent_name, base, episodes):
        pos = np.asarray(a["state/agent_pos"])
        cells = len({(int(x), int(y)) for x, y in pos})
        speed = float(np.linalg.norm(np.diff(pos, axis=0), axis=1).mean())
        acts = np.asarray(a["actions"])[1:]
        rows.append(
            {
                "seed": seed,
                "targets": float(np.sum(a["rewards"])),
                "cells": cells,
                "speed": speed,
                "forward_share": float(np.mean(acts == 1)),
            }
        )
        print(rows[-1], flush=True)
    t = np.array([r["targets"] for r in rows])
    c = np.array([r["cells"] for r in rows])
    summary = {
        "agent": agent_name,
        "targets_mean": float(t.mean()),
        "cells_mean": float(c.mean()),
        "stuck_lt10_cells": int((c < 10).sum()),
        "speed_mean": float(np.mean([r["speed"] for r in rows])),
        "episodes": rows,
    }
    Path(out).write_text(json.dumps(summary, indent=1))
    print({k: v for k, v in summary.items() if k != "episodes"})
