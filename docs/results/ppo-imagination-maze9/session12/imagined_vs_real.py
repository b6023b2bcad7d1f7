"""Dev diagnostic: how differently does a policy act on the model's imagined frame and on the
real frame it stands for? From real contexts of recorded episodes (a stream observes frames
..s with their actions), the model imagines frame s+1 with the real action (1 denoising step,
as in PPO's training); each policy's action probabilities on the imagined and on the real
frame s+1 are compared by total variation. Reference: the same distance between real frames
s+1 and s+2. Usage: imagined_vs_real.py DATASET POLICY.zip [POLICY.zip ...]"""

import sys
from pathlib import Path

import numpy as np
import torch

from lsswm.agents.model_io import load_frame_world_model, to_model_frames
from lsswm.agents.sb3_prior import SB3FramePrior
from lsswm.collect.dataset import open_dataset

torch.set_num_threads(1)
model = load_frame_world_model("pretrained/maze9/causal-window.safetensors", "cpu")
dataset = open_dataset(sys.argv[1])
policies = {path: SB3FramePrior(Path(path), num_actions=6) for path in sys.argv[2:]}
generator = torch.Generator().manual_seed(0)
real, imagined, following, actions_taken = [], [], [], []
for index in range(0, 6):
    episode = dataset[index]
    frames = to_model_frames(np.asarray(episode["frames"][:400]), model)
    acts = np.asarray(episode["actions"][:400])
    stream = model.start_stream(1)
    observed = 0
    for s in range(20, 380, 12):
        stream.observe_frames(
            torch.as_tensor(frames[None, observed : s + 1]),
            torch.as_tensor(acts[None, observed : s + 1]),
        )
        observed = s + 1
        out = stream.clone().imagine(
            torch.as_tensor(acts[None, s + 1 : s + 2]), 1, generator=generator
        )
        imagined.append(out.frames[0, 0].cpu().numpy())
        real.append(frames[s + 1])
        following.append(frames[s + 2])
        actions_taken.append(int(acts[s + 1]))
real, imagined, following = map(np.stack, (real, imagined, following))
print(
    f"{len(real)} frames; mean |imagined - real| = {np.abs(imagined.astype(float) - real).mean():.1f} "
    f"(|real s+2 - real s+1| = {np.abs(following.astype(float) - real).mean():.1f}) grey levels"
)


def probs(prior, frames):
    return np.stack([prior(frame).numpy() for frame in frames])


for name, policy in policies.items():
    p_real, p_imag, p_next = probs(policy, real), probs(policy, imagined), probs(policy, following)
    tv = 0.5 * np.abs(p_real - p_imag).sum(1)
    tv_next = 0.5 * np.abs(p_real - p_next).sum(1)
    print(
        f"{name}: TV(real, imagined) {tv.mean():.3f} [median {np.median(tv):.3f}]; "
        f"TV(real s+1, real s+2) {tv_next.mean():.3f}; P(forward) real {p_real[:, 1].mean():.2f} "
        f"imagined {p_imag[:, 1].mean():.2f}; entropy real "
        f"{-(p_real * np.log(p_real + 1e-9)).sum(1).mean():.2f} imagined "
        f"{-(p_imag * np.log(p_imag + 1e-9)).sum(1).mean():.2f}"
    )
