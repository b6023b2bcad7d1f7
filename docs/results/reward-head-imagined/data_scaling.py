"""Does the reward head's AUROC by depth grow with training episodes? The first 6, 12 and 24
episodes of a bank of imagined_bank.py, two seeds each, scored on a dev bank (section 40).

    python data_scaling.py TRAIN.npz DEV.npz"""

import sys

import numpy as np
import torch
from input_kinds import fit_head  # this folder

from lsswm.agents.hit_metrics import auroc

torch.set_num_threads(1)
tr, te = np.load(sys.argv[1]), np.load(sys.argv[2])


ep = tr["episode"][:, 0]
xe = torch.as_tensor(te["features"].reshape(-1, te["features"].shape[-1]))
for n in (6, 12, 24):
    for seed in (0, 1):
        keep = ep < n
        x = tr["features"][keep].reshape(-1, tr["features"].shape[-1])
        y = tr["hit"][keep].reshape(-1)
        net = fit_head(x, y, seed)
        with torch.no_grad():
            s = net(xe).squeeze(-1).numpy().reshape(te["hit"].shape)
        print(
            n,
            seed,
            " ".join(f"{auroc(s[:, k], te['hit'][:, k]):.3f}" for k in range(8)),
            flush=True,
        )
