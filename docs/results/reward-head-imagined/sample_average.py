"""Does averaging a reward head over several sampled imaginations of the same future lift its
AUROC? The head (input_kinds.fit_head on frame features, two seeds) is fitted on one bank and
scored on dev banks that differ only in the sampler's noise (imagined_bank.py SEED), one at a
time and with the hit probability averaged over them (docs/experiments.md, section 43).

    python sample_average.py TRAIN.npz DEV_SEED0.npz,DEV_SEED1.npz,..."""

import sys

import numpy as np
import torch
from input_kinds import fit_head  # this folder

from lsswm.agents.hit_metrics import auroc

torch.set_num_threads(1)
train = np.load(sys.argv[1])
devs = [np.load(p) for p in sys.argv[2].split(",")]
hits = devs[0]["hit"]
for d in devs[1:]:
    assert (d["hit"] == hits).all(), "dev banks must cover the same starts"
spread = np.abs(devs[1]["features"] - devs[0]["features"]).mean(axis=(0, 2))
print("mean |feature difference| between two samples, by depth:", np.round(spread, 3))


def row(name: str, scores: np.ndarray) -> None:
    print(f"{name:22s}", " ".join(f"{auroc(scores[:, k], hits[:, k]):.3f}" for k in range(8)))


for seed in (0, 1):
    net = fit_head(
        train["features"].reshape(-1, train["features"].shape[-1]), train["hit"].reshape(-1), seed
    )
    probs = []
    with torch.no_grad():
        for d in devs:
            x = torch.as_tensor(
                d["features"].reshape(-1, d["features"].shape[-1]).astype(np.float32)
            )
            probs.append(torch.sigmoid(net(x).squeeze(-1)).numpy().reshape(hits.shape))
    for i, p in enumerate(probs):
        row(f"s{seed} sample {i}", p)
    for n in range(2, len(probs) + 1):
        row(f"s{seed} mean of {n}", np.mean(probs[:n], 0))
