"""Imagined features and latents at depths 1..H (8) from every 2nd start of each episode (one
denoising step, real actions), with the real hit at that frame and the model's own predicted
reward (docs/experiments.md, section 40).

    python imagined_bank.py CKPT DATA OUT.npz STRIDE [THREADS] [END] [FIRST] [SEED]

FIRST..END-1: which episodes of DATA (all by default); SEED: the sampler's noise (0).
Section 43's checks of the hybrid's last frame: BANK_H=12 imagines 12 frames; BANK_CUT=7
replaces the real actions from the 8th on by the 7th; BANK_EXTEND=4 imagines 4 more frames
that repeat the last action and keeps the first H."""

import os
import sys
import time

import numpy as np
import torch

from lsswm.agents.model_io import load_frame_world_model, to_model_frames
from lsswm.collect.dataset import open_dataset
from lsswm.worldmodel.stream import WorldModelStream

ckpt, root, out, stride = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
model = load_frame_world_model(ckpt, device="cpu")
gen = torch.Generator().manual_seed(int(sys.argv[8]) if len(sys.argv) > 8 else 0)
H, MINC = int(os.environ.get("BANK_H", 8)), 10
CUT, EXTEND = int(os.environ.get("BANK_CUT", 0)), int(os.environ.get("BANK_EXTEND", 0))
F, L, Y, D, E, P = [], [], [], [], [], []
t0 = time.time()
MAXE = int(sys.argv[6]) if len(sys.argv) > 6 else 10**9
FIRST = int(sys.argv[7]) if len(sys.argv) > 7 else 0
for i, ep in enumerate(open_dataset(root)):
    if i >= MAXE:
        break
    if i < FIRST:
        continue
    rewards = np.asarray(ep["rewards"], np.float32)
    frames_t = torch.as_tensor(to_model_frames(np.array(ep["frames"]), model))
    actions_t = torch.as_tensor(np.array(ep["actions"]))
    last = len(frames_t) - 1 - H
    starts = [s for s in range(MINC - 1, last + 1) if (s - MINC + 1) % stride == 0]
    commit = model.config.commit_frames
    stream = model.start_stream(1)
    by_phase, observed = {}, 0
    with torch.no_grad():
        for s in starts:
            stream.observe_frames(
                frames_t[None, observed : s + 1], actions_t[None, observed : s + 1]
            )
            observed = s + 1
            by_phase.setdefault(observed % commit, []).append((s, stream.clone()))
        n = len(starts)
        feats = np.zeros((n, H, model.config.d_model), np.float32)
        lats = np.zeros(
            (
                n,
                H,
                model.config.latent_height
                * model.config.latent_width
                * model.config.latent_channels,
            ),
            np.float16,
        )
        preds = np.zeros((n, H), np.float32)
        row = {s: j for j, s in enumerate(starts)}
        for rows in by_phase.values():
            batch = WorldModelStream.concat([st for _, st in rows])
            fut = torch.stack([actions_t[s + 1 : s + 1 + H] for s, _ in rows])
            if CUT:
                fut[:, CUT:] = fut[:, CUT - 1 : CUT]
            if EXTEND:
                fut = torch.cat([fut, fut[:, -1:].expand(-1, EXTEND)], 1)
            o = batch.imagine(fut, 1, generator=gen, decode=False)
            idx = [row[s] for s, _ in rows]
            feats[idx] = o.features[:, :H].float().numpy()
            lats[idx] = o.latents[:, :H].flatten(2).float().numpy()
            preds[idx] = o.rewards[:, :H].float().numpy()
    fr = np.asarray(starts)[:, None] + np.arange(1, H + 1)[None]
    F.append(feats)
    L.append(lats)
    Y.append(rewards[fr] > 0)
    P.append(preds)
    D.append(np.broadcast_to(np.arange(1, H + 1), fr.shape))
    E.append(np.full(fr.shape, i))
    print(i, round(time.time() - t0), int((rewards > 0).sum()), flush=True)
np.savez(
    out,
    features=np.concatenate(F),
    latents=np.concatenate(L),
    hit=np.concatenate(Y),
    pred=np.concatenate(P),
    depth=np.concatenate(D),
    episode=np.concatenate(E),
)
