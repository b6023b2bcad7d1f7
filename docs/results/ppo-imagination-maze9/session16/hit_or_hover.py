"""Dev diagnostic (docs/experiments.md, section 51): does the 3-step objective pay for taking
a target? From 64 contexts of the data that end 1..8 frames before one of its rewards, the
model imagines 3 x "forward" (1 denoising step) in episodes that end at the horizon; the
episodes in which the model predicts a hit (its summed reward above 0.5) are compared with the
others by the model's reward and by the target value's shaping at weight 1 (the potential's
change: the value of the last frame, discounted, less the context's).

    python hit_or_hover.py DATASET OUT.json
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
ROWS, HORIZON, CONTEXT, FORWARD = 64, 3, 10, 1

data, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
model = load_frame_world_model(f"{P}.safetensors", torch.device("cpu"))
longest = longest_context_length(model.config, CONTEXT)
contexts = DatasetContexts(data, longest, near_reward_fraction=1.0, near_reward_within=8)
batch = ImaginedBatch(
    model,
    contexts,
    ROWS,
    context_length=CONTEXT,
    horizon=HORIZON,
    horizon_ends="terminate",
    denoising_steps=1,
    seed=11,
    shaping=load_critic(f"{P}-target.safetensors"),
    shaping_weight=1.0,
)
batch.start_all()
reward, shaping = np.zeros(ROWS), np.zeros(ROWS)
for _ in range(HORIZON):
    step = batch.step(np.full(ROWS, FORWARD))
    reward += step.reward_parts["model"]
    shaping += step.reward_parts["shaping"]
hit = reward > 0.5
summary = {"episodes": ROWS, "predicted_hit_share": float(hit.mean())}
for name, rows in (("predicted hit", hit), ("no predicted hit", ~hit)):
    summary[name] = {
        "model_reward": float(reward[rows].mean()),
        "target_shaping_weight_1": float(shaping[rows].mean()),
    }
print(summary)
with open(out, "w") as handle:
    json.dump(summary, handle)
