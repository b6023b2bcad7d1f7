"""Dev diagnostic (docs/experiments.md, section 46): what a policy earns in imagination, by
part of the recipe's reward. Four imagined batches with one seed see the same contexts and,
stepped with the same actions, generate the same frames; they differ only in what they pay:
the model's reward alone, plus the motion drive, plus the target shaping (section 25's value
potential x4, or section 46's steps potential x0.5). The differences are the parts. Also
counts the model's predicted hits (reward > 0.5).

    python returns_by_part.py POLICY|random DATA EPISODES_PER_ROW OUT.json
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from lsswm.agents.contexts import DatasetContexts
from lsswm.agents.critic import load_critic
from lsswm.agents.imagination import ImaginedBatch, longest_context_length
from lsswm.agents.model_io import load_frame_world_model

P = "pretrained/maze9/causal-window"
ROWS, HORIZON, CONTEXT = 32, 16, 10

policy_name, data, episodes, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(2)
model = load_frame_world_model(f"{P}.safetensors", torch.device("cpu"))
contexts = DatasetContexts(data, longest_context_length(model.config, CONTEXT))
motion, target = load_critic(f"{P}-motion.safetensors"), load_critic(f"{P}-target.safetensors")
common = {"context_length": CONTEXT, "horizon": HORIZON, "denoising_steps": 1, "seed": 7}
batches = {
    "reward": ImaginedBatch(model, contexts, ROWS, **common),
    "reward+motion": ImaginedBatch(model, contexts, ROWS, motion=motion, **common),
    "recipe": ImaginedBatch(
        model, contexts, ROWS, motion=motion, shaping=target, shaping_weight=4.0, **common
    ),
    # section 46's potential: minus the steps to go, weight 0.5
    "steps": ImaginedBatch(
        model,
        contexts,
        ROWS,
        motion=motion,
        shaping=target,
        shaping_weight=0.5,
        shaping_potential="steps",
        shaping_max_steps=20.0,
        **common,
    ),
}
policy = None
if policy_name != "random":
    from stable_baselines3 import PPO

    policy = PPO.load(policy_name, device="cpu")
rng = np.random.default_rng(0)
totals = {name: [] for name in batches}
hits, forward = [], []
for _ in range(episodes):
    observations = {name: batch.start_all() for name, batch in batches.items()}
    assert all(np.array_equal(observations["recipe"], o) for o in observations.values())
    returns = {name: np.zeros(ROWS) for name in batches}
    obs = observations["recipe"]
    for _ in range(HORIZON):
        if policy is None:
            actions = rng.integers(0, 6, ROWS)
        else:
            actions, _ = policy.predict(obs, deterministic=False)
        forward.append(float(np.mean(actions == 1)))
        steps = {name: batch.step(actions) for name, batch in batches.items()}
        assert all(np.array_equal(steps["recipe"].frames, s.frames) for s in steps.values())
        for name, step in steps.items():
            returns[name] += step.rewards  # undiscounted, as the training log's return
        hits.append(float(np.mean(steps["reward"].rewards > 0.5)))
        obs = steps["recipe"].frames
    for name in batches:
        totals[name].append(returns[name])
mean = {name: float(np.concatenate(v).mean()) for name, v in totals.items()}
parts = {
    "model reward": mean["reward"],
    "motion drive": mean["reward+motion"] - mean["reward"],
    "target shaping": mean["recipe"] - mean["reward+motion"],
    "total": mean["recipe"],
    "shaping in steps (x0.5)": mean["steps"] - mean["reward+motion"],
    "predicted hits per 16 steps": float(np.mean(hits)) * HORIZON,
    "forward share": float(np.mean(forward)),
}
Path(out).write_text(json.dumps({"policy": policy_name, "episodes": episodes * ROWS, **parts}))
print(policy_name, {k: round(v, 3) for k, v in parts.items()})
