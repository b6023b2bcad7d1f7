"""Dev diagnostic (docs/experiments.md, section 49): does the world model know that pushing
into a wall does not move? From real contexts of held-out data (10 frames ending at t), the
shipped causal-window model imagines 3 x "forward" (1 denoising step, as PPO's imagination),
and its motion head (cells moved into each frame) and motion value (motion to come, read on
the last frame) are compared between contexts where the real next "forward" did not move
(a wall ahead) and those where it moved (open ahead), with the real movement for scale.

    python wall_motion.py DATASET OUT.json
"""

import json
import sys

import numpy as np
import torch

from lsswm.agents.critic import head_inputs, load_critic
from lsswm.agents.model_io import load_frame_world_model, to_model_frames
from lsswm.collect.dataset import open_dataset

P = "pretrained/maze9/causal-window"
CONTEXT, STEPS, PER_CLASS, FORWARD = 10, 3, 96, 1

data, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
model = load_frame_world_model(f"{P}.safetensors", torch.device("cpu"))
motion = load_critic(f"{P}-motion.safetensors")
motion_value = load_critic(f"{P}-motion-value.safetensors")

cases: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {"wall": [], "open": []}
for episode in open_dataset(data):
    frames, actions = np.asarray(episode["frames"]), np.asarray(episode["actions"])
    pos = np.asarray(episode["state/agent_pos"], dtype=np.float64)
    for t in range(CONTEXT - 1, len(frames) - 1):
        if actions[t + 1] != FORWARD:
            continue
        moved = float(np.linalg.norm(pos[t + 1] - pos[t]))
        kind = "wall" if moved < 0.01 else "open"
        cases[kind].append(
            (frames[t - CONTEXT + 1 : t + 1], actions[t - CONTEXT + 1 : t + 1], moved)
        )

rng = np.random.default_rng(0)
summary = {}
for kind, found in cases.items():
    chosen = [found[i] for i in rng.permutation(len(found))[:PER_CLASS]]
    frames = torch.as_tensor(to_model_frames(np.stack([c[0] for c in chosen]), model))
    actions = torch.as_tensor(np.stack([c[1] for c in chosen]))
    stream = model.start_stream(len(chosen))
    generator = torch.Generator().manual_seed(0)
    moved_per_step = []
    with torch.no_grad():
        stream.observe_frames(frames, actions)
        for _ in range(STEPS):
            step = torch.full((len(chosen), 1), FORWARD, dtype=torch.long)
            imagined = stream.imagine(step, denoising_steps=1, generator=generator)
            moved_per_step.append(motion(head_inputs(imagined, motion)[:, 0]).float().numpy())
        value = motion_value(head_inputs(imagined, motion_value)[:, 0]).float().numpy()
    moved = np.stack(moved_per_step, 1)  # (n, STEPS)
    summary[kind] = {
        "contexts": len(chosen),
        "of": len(found),
        "real_moved_next_step": float(np.mean([c[2] for c in chosen])),
        "imagined_motion_per_step": moved.mean(0).tolist(),
        "imagined_motion_3_steps": float(moved.sum(1).mean()),
        "motion_value_after_3": float(value.mean()),
    }
    print(kind, summary[kind])
with open(out, "w") as handle:
    json.dump(summary, handle, indent=1)
