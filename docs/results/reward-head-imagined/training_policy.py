"""Does a reward head fitted on episodes of the test's own policy rank hits 8 steps ahead
better? Heads (input_kinds.fit_head, two seeds) fitted on banks of imagined_bank.py from
different behaviour policies, scored on oracle-mix dev banks (docs/experiments.md, section 43).
Kinds: "features" (the imagined frame), "all-imagined" (the path 1..k), and "all+actions"
(the path and the one-hot real actions 1..k, which the path already implies).

    python training_policy.py KINDS NAME=TRAIN.npz[+TRAIN2.npz],... DEV.npz[+DEV2.npz],...
    # a bank's actions come from its dataset: BANK.npz@DATA_DIR"""

import sys

import numpy as np
import torch
from input_kinds import H, fit_head, inputs  # this folder

from lsswm.agents.critic import trajectory_inputs
from lsswm.agents.hit_metrics import auroc
from lsswm.collect.dataset import open_dataset

MIN_CONTEXT, STRIDE, ACTIONS = 10, 2, 6


def bank_actions(root: str, episodes: np.ndarray) -> np.ndarray:
    """The real actions 1..H after every start of a bank (its rows in imagined_bank's order)."""
    wanted = list(dict.fromkeys(episodes.tolist()))
    rows = []
    for i, ep in enumerate(open_dataset(root)):
        if i not in wanted:
            continue
        actions = np.asarray(ep["actions"])
        last = len(actions) - 1 - H
        for s in range(MIN_CONTEXT - 1, last + 1, STRIDE):
            rows.append(actions[s + 1 : s + 1 + H])
    return np.stack(rows)


def load(spec: str) -> dict[str, np.ndarray]:
    """One or more banks joined; ``BANK@DATA`` adds the real actions."""
    parts = []
    for item in spec.split("+"):
        path, _, root = item.partition("@")
        bank = dict(np.load(path))
        if root:
            bank["actions"] = bank_actions(root, bank["episode"][:, 0])
            assert len(bank["actions"]) == len(bank["hit"]), "bank rows and starts differ"
        parts.append(bank)
    keys = set.intersection(*(set(p) for p in parts))
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def features_of(bank: dict[str, np.ndarray], kind: str) -> np.ndarray:
    if kind != "all+actions":
        return inputs(bank, kind)
    path = inputs(bank, "all-imagined")
    onehot = torch.as_tensor(np.eye(ACTIONS, dtype=np.float32)[bank["actions"]])  # (S, H, A)
    steps = trajectory_inputs(onehot, H)[..., : H * ACTIONS].numpy()  # actions 1..k, no depth
    return np.concatenate([path, steps], -1)


def main() -> None:
    torch.set_num_threads(1)
    kinds = sys.argv[1].split(",")
    trains = dict(item.split("=", 1) for item in sys.argv[2].split(","))
    devs = [load(spec) for spec in sys.argv[3].split(",")]
    for name, spec in trains.items():
        train = load(spec)
        for kind in kinds:
            x = features_of(train, kind)
            for seed in (0, 1):
                net = fit_head(x.reshape(-1, x.shape[-1]), train["hit"].reshape(-1), seed)
                cells = []
                for dev in devs:
                    xd = torch.as_tensor(features_of(dev, kind).reshape(-1, x.shape[-1]))
                    with torch.no_grad():
                        s = net(xd).squeeze(-1).numpy().reshape(dev["hit"].shape)
                    cells.append(
                        " ".join(f"{auroc(s[:, k], dev['hit'][:, k]):.3f}" for k in range(H))
                    )
                print(f"{name:8s} {kind:12s} s{seed} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
