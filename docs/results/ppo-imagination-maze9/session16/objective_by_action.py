"""Dev diagnostic (docs/experiments.md, section 50): what section 48-50's PPO objective pays
each action, from the contexts of a dataset. The same contexts and noise (one seed) are
imagined 3 steps with one action repeated (0 noop, 1 forward, 2 left, 3 right, 4 forward-left,
5 forward-right), in 3-step episodes that end at the horizon, paid as PPO was: the motion
drive plus the shaping of the motion value x1 and the target value x4. Each action's mean
return, by part, over the episodes.

    python objective_by_action.py DATASET EPISODES OUT.json [NEAR_REWARD_FRACTION]

With NEAR_REWARD_FRACTION (e.g. 1), that share of the contexts end 1..8 frames before one of
the dataset's rewards, as ``--start-near-reward`` draws them.
"""

import json
import sys

import numpy as np
import torch

from lsswm.agents.contexts import DatasetContexts
from lsswm.agents.critic import load_critic
from lsswm.agents.imagination import ImaginedBatch, longest_context_length
from lsswm.agents.model_io import load_frame_world_model

P = "pretrained/maze9/causal-window"
ROWS, HORIZON, CONTEXT, ACTIONS = 32, 3, 10, 6

data, episodes, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
near = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
torch.set_num_threads(2)
model = load_frame_world_model(f"{P}.safetensors", torch.device("cpu"))
longest = longest_context_length(model.config, CONTEXT)
contexts = DatasetContexts(data, longest, near_reward_fraction=near, near_reward_within=8)
critics = [load_critic(f"{P}-motion-value.safetensors"), load_critic(f"{P}-target.safetensors")]
parts_by_action = {}
for action in range(ACTIONS):
    batch = ImaginedBatch(
        model,
        contexts,
        ROWS,
        context_length=CONTEXT,
        horizon=HORIZON,
        horizon_ends="terminate",
        denoising_steps=1,
        seed=11,  # the same contexts and noise for every action
        motion=load_critic(f"{P}-motion.safetensors"),
        shaping=critics,
        shaping_weight=[1.0, 4.0],
    )
    totals: dict[str, list[float]] = {}
    for _ in range(episodes):
        batch.start_all()
        returns: dict[str, np.ndarray] = {}
        for _ in range(HORIZON):
            step = batch.step(np.full(ROWS, action))
            for name, values in step.reward_parts.items():
                returns[name] = returns.get(name, 0.0) + values
        for name, values in returns.items():
            totals.setdefault(name, []).extend(values.tolist())
    parts = {name: float(np.mean(values)) for name, values in totals.items()}
    parts["total"] = sum(parts.values())
    parts_by_action[action] = parts
    print(action, {name: round(value, 3) for name, value in parts.items()})
with open(out, "w") as handle:
    summary = {"data": data, "near_reward_fraction": near, "episodes": episodes * ROWS}
    json.dump(summary | {"by_action": parts_by_action}, handle)
