"""Does the reward head's AUROC by depth grow with training episodes? The first 6, 12 and 24
episodes of a bank of imagined_bank.py, two seeds each, scored on a dev bank (section 40).

    python data_scaling.py TRAIN.npz DEV.npz"""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lsswm.agents.head_files import head_mlp
from lsswm.agents.hit_metrics import auroc

torch.set_num_threads(1)
tr, te = np.load(sys.argv[1]), np.load(sys.argv[2])


def fit(x, y, epochs=30, seed=0):
    torch.manual_seed(seed)
    net = head_mlp(x.shape[1], 128, 1, 2)
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.as_tensor(x), torch.as_tensor(y).float()
    pw = (len(y) - y.sum()) / y.sum()
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        o = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 512):
            r = o[i : i + 512]
            loss = F.binary_cross_entropy_with_logits(net(x[r]).squeeze(-1), y[r], pos_weight=pw)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


ep = tr["episode"][:, 0]
xe = torch.as_tensor(te["features"].reshape(-1, te["features"].shape[-1]))
for n in (6, 12, 24):
    for seed in (0, 1):
        keep = ep < n
        x = tr["features"][keep].reshape(-1, tr["features"].shape[-1])
        y = tr["hit"][keep].reshape(-1)
        net = fit(x, y, seed=seed)
        with torch.no_grad():
            s = net(xe).squeeze(-1).numpy().reshape(te["hit"].shape)
        print(
            n,
            seed,
            " ".join(f"{auroc(s[:, k], te['hit'][:, k]):.3f}" for k in range(8)),
            flush=True,
        )
