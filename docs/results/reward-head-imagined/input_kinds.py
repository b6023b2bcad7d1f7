"""What a reward head should read of imagined frames: the critics' MLP (LayerNorm, 2 x 128,
Adam 1e-3, 30 epochs, class-balanced cross-entropy), two seeds per input kind, fitted on one
bank of imagined_bank.py and scored (AUROC by depth 1..8) on others (section 40).

    python input_kinds.py TRAIN.npz DEV1.npz,DEV2.npz features,feat+cummean,all-imagined"""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lsswm.agents.critic import trajectory_inputs
from lsswm.agents.head_files import head_mlp
from lsswm.agents.hit_metrics import auroc

H = 8


def inputs(d, kind):
    return _inputs(d, kind).astype(np.float32)


def _inputs(d, kind):
    f = d["features"].astype(np.float32)  # (S, H, D)
    if kind == "features":
        return f
    if kind == "latents":
        return d["latents"].astype(np.float32)
    if kind == "feat+cummean":
        cm = np.cumsum(f, 1) / np.arange(1, H + 1)[None, :, None]
        return np.concatenate([f, cm], -1)
    if kind == "feat+depth":
        oh = np.broadcast_to(np.eye(H, dtype=np.float32)[None], (len(f), H, H))
        return np.concatenate([f, oh], -1)
    if kind == "all-imagined":  # the product's path layout: frames 1..k (zeros after), k
        return trajectory_inputs(torch.as_tensor(f), H).numpy()


def fit_head(x, y, seed):
    """The critics' MLP fitted like fit-critic --targets reward (30 epochs, Adam 1e-3)."""
    torch.manual_seed(seed)
    net = head_mlp(x.shape[1], 128, 1, 2)
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.as_tensor(x), torch.as_tensor(y).float()
    pw = (len(y) - y.sum()) / y.sum()
    g = torch.Generator().manual_seed(seed)
    for _ in range(30):
        o = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 512):
            r = o[i : i + 512]
            loss = F.binary_cross_entropy_with_logits(net(x[r]).squeeze(-1), y[r], pos_weight=pw)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def main() -> None:
    torch.set_num_threads(1)
    tr = np.load(sys.argv[1])
    devs = [np.load(p) for p in sys.argv[2].split(",")]
    for kind in sys.argv[3].split(","):
        xt = inputs(tr, kind)
        D = xt.shape[-1]
        for seed in (0, 1):
            net = fit_head(xt.reshape(-1, D), tr["hit"].reshape(-1), seed)
            out = []
            for d in devs:
                with torch.no_grad():
                    s = (
                        net(torch.as_tensor(inputs(d, kind).reshape(-1, D)))
                        .squeeze(-1)
                        .numpy()
                        .reshape(d["hit"].shape)
                    )
                out.append(" ".join(f"{auroc(s[:, k], d['hit'][:, k]):.3f}" for k in range(8)))
            print(f"{kind:13s} s{seed} | " + " | ".join(out), flush=True)


if __name__ == "__main__":
    main()
