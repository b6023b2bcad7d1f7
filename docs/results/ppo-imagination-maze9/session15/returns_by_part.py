"""Dev diagnostic (docs/experiments.md, section 46): what a policy earns in imagination, by
part of the recipe's reward (each step's ``reward_parts``): the model's reward, the motion
drive, and the target shaping, both with section 25's value potential x4 and with section 46's
steps potential x0.5. The two imagined batches share one seed, so stepped with the same
actions they generate the same frames and differ only in their shaping. Also counts the
model's predicted hits (reward > 0.5).

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
recipe = ImaginedBatch(
    model, contexts, ROWS, motion=motion, shaping=target, shaping_weight=4.0, **common
)
in_steps = ImaginedBatch(
    model,
    contexts,
    ROWS,
    motion=motion,
    shaping=target,
    shaping_weight=0.5,
    shaping_potential="steps",
    shaping_max_steps=20.0,
    **common,
)
policy = None
if policy_name != "random":
    from stable_baselines3 import PPO

    policy = PPO.load(policy_name, device="cpu")
rng = np.random.default_rng(0)
names = ("model", "motion", "shaping", "steps shaping")
totals = {name: [] for name in names}
hits, forward = [], []
for _ in range(episodes):
    obs = recipe.start_all()
    assert np.array_equal(obs, in_steps.start_all())
    returns = {name: np.zeros(ROWS) for name in names}
    for _ in range(HORIZON):
        if policy is None:
            actions = rng.integers(0, 6, ROWS)
        else:
            actions, _ = policy.predict(obs, deterministic=False)
        forward.append(float(np.mean(actions == 1)))
        step, other = recipe.step(actions), in_steps.step(actions)
        assert np.array_equal(step.frames, other.frames)
        for name in ("model", "motion", "shaping"):  # undiscounted, as the training log's
            returns[name] += step.reward_parts[name]
        returns["steps shaping"] += other.reward_parts["shaping"]
        hits.append(float(np.mean(step.reward_parts["model"] > 0.5)))
        obs = step.frames
    for name in names:
        totals[name].append(returns[name])
mean = {name: float(np.concatenate(v).mean()) for name, v in totals.items()}
parts = {
    "model reward": mean["model"],
    "motion drive": mean["motion"],
    "target shaping": mean["shaping"],
    "total": mean["model"] + mean["motion"] + mean["shaping"],
    "shaping in steps (x0.5)": mean["steps shaping"],
    "predicted hits per 16 steps": float(np.mean(hits)) * HORIZON,
    "forward share": float(np.mean(forward)),
}
Path(out).write_text(json.dumps({"policy": policy_name, "episodes": episodes * ROWS, **parts}))
print(policy_name, {k: round(v, 3) for k, v in parts.items()})
