"""Dev diagnostic (docs/experiments.md, section 50): a policy's action probabilities on the
last frames of 256 contexts of a dataset (at the world model's frame size, as in imagination),
their mean and how many are nearly sure of "forward" (P > 0.9) or nearly sure it is wrong
(P < 0.1).

    python policy_probs.py POLICY.zip DATASET OUT.json [NEAR_REWARD_FRACTION]
"""

import json
import sys

import numpy as np
import torch
from stable_baselines3 import PPO

from lsswm.agents.contexts import DatasetContexts
from lsswm.agents.model_io import load_frame_world_model, to_model_frames

FORWARD, CONTEXTS = 1, 256

path, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
near = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
model = load_frame_world_model("pretrained/maze9/causal-window.safetensors", torch.device("cpu"))
policy = PPO.load(path, device="cpu").policy
contexts = DatasetContexts(data, 12, near_reward_fraction=near)
frames = contexts.sample(CONTEXTS, 1, np.random.default_rng(0)).frames[:, -1]
observations, _ = policy.obs_to_tensor(to_model_frames(frames, model))
with torch.no_grad():
    probs = policy.get_distribution(observations).distribution.probs.numpy()
summary = {
    "policy": path,
    "data": data,
    "near_reward_fraction": near,
    "mean_probs": probs.mean(0).round(4).tolist(),
    "share_forward_above_0.9": float((probs[:, FORWARD] > 0.9).mean()),
    "share_forward_below_0.1": float((probs[:, FORWARD] < 0.1).mean()),
}
print(summary)
with open(out, "w") as handle:
    json.dump(summary, handle)
