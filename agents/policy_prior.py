"""A policy prior for the planner: the dataset's behaviour, cloned from the model's features.

TD-MPC2 samples part of its planner's candidates from a learned policy; here the policy is
fitted offline to the dataset the world model was trained on. One stream observes each real
episode (teacher forcing, as the planning agent's stream observes its episode), and an MLP
maps the pooled features after frame t to the action taken next, ``actions[t + 1]``
(cross-entropy). For ``oracle-mix`` data that is the behaviour of legs to the current target
mixed with exploration, as far as the features show it.

The planner (``PlannerConfig.prior``) mixes ``prior_weight * pi(a | features now)`` into
the distribution its first iteration samples every step of every candidate from; the
scores (predicted rewards, critic) still choose among them.

``lsswm agents fit-prior --ckpt CKPT --data DIR [--val-data HELDOUT] --out DIR`` writes
``prior.safetensors`` and ``prior_training.json`` (accuracy on the training and held-out
episodes, beside always predicting the most common action).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lsswm.agents.errors import AgentError
from lsswm.agents.head_files import head_mlp

PRIOR_META_KEY = "lsswm_policy_prior"


@dataclass(frozen=True)
class PriorConfig:
    feature_dim: int
    num_actions: int
    hidden: int = 128


class PolicyPrior(nn.Module):
    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = config
        self.net = head_mlp(config.feature_dim, config.hidden, config.num_actions, 1)

    def forward(self, features: Tensor) -> Tensor:
        """Action probabilities (..., num_actions)."""
        return torch.softmax(self.net(features.float()), dim=-1)


def save_prior(path: str | Path, prior: PolicyPrior, extra: dict[str, Any]) -> Path:
    from lsswm.agents.head_files import save_head

    return save_head(path, prior, PRIOR_META_KEY, extra)


def load_prior(path: str | Path, device: str | torch.device = "cpu") -> PolicyPrior:
    from lsswm.agents.head_files import load_head

    what = "a policy prior checkpoint (lsswm agents fit-prior)"
    return load_head(path, PRIOR_META_KEY, what, PolicyPrior, PriorConfig, device)


@dataclass
class PriorOptions:
    ckpt: str
    data: str
    out: str
    val_data: str = ""
    episodes: int = 0  # 0: all
    epochs: int = 20
    batch: int = 512
    lr: float = 1e-3
    hidden: int = 128
    seed: int = 0
    device: str = "cpu"
    progress: bool = True


@torch.no_grad()
def observed_features(model: Any, root: str, count: int, device: str) -> tuple[Tensor, Tensor]:
    """Features after each frame t (N, D) and the action taken next (N,), over episodes."""
    from lsswm.agents.model_io import to_model_frames
    from lsswm.collect.dataset import open_dataset

    dataset = open_dataset(root)
    features, actions = [], []
    for index, episode in enumerate(dataset):
        if 0 < count <= index:
            break
        frames = torch.as_tensor(to_model_frames(np.array(episode["frames"]), model), device=device)
        taken = torch.as_tensor(np.array(episode["actions"]), device=device)
        out = model.start_stream(1).observe_frames(frames[None], taken[None])
        features.append(out.features[0, :-1].float().cpu())
        actions.append(taken[1:].cpu())
    if not features:
        raise AgentError(f"{root} holds no episode")
    return torch.cat(features), torch.cat(actions).long()


def fit_policy_prior(options: PriorOptions) -> dict[str, Any]:
    from lsswm.agents.model_io import load_frame_world_model

    torch.manual_seed(options.seed)
    model = load_frame_world_model(options.ckpt, device=options.device)
    if model.config.action_kind != "discrete":
        raise AgentError("a policy prior needs a discrete-action world model")
    inputs, targets = observed_features(model, options.data, options.episodes, options.device)
    val = (
        observed_features(model, options.val_data, 0, options.device) if options.val_data else None
    )
    config = PriorConfig(inputs.shape[1], model.config.action_size, options.hidden)
    prior = PolicyPrior(config)
    optimizer = torch.optim.Adam(prior.parameters(), lr=options.lr)
    rng = torch.Generator().manual_seed(options.seed)

    def accuracy(x: Tensor, y: Tensor) -> float:
        with torch.no_grad():
            return float((prior(x).argmax(-1) == y).float().mean())

    history = []
    for epoch in range(options.epochs):
        order = torch.randperm(len(inputs), generator=rng)
        for first in range(0, len(order), options.batch):
            rows = order[first : first + options.batch]
            logits = prior.net(inputs[rows].float())
            loss = nn.functional.cross_entropy(logits, targets[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        entry = {"epoch": epoch + 1, "train_accuracy": accuracy(inputs, targets)}
        if val is not None:
            entry["val_accuracy"] = accuracy(*val)
        history.append(entry)
        if options.progress:
            print(f"prior epoch {epoch + 1}/{options.epochs}: {entry}", file=sys.stderr)
    prior.eval()
    majority = int(torch.bincount(targets).argmax())
    summary = {
        "options": asdict(options),
        "train_frames": len(targets),
        "majority_action": majority,
        "train_accuracy": accuracy(inputs, targets),
        "train_majority_accuracy": float((targets == majority).float().mean()),
        "val_accuracy": accuracy(*val) if val is not None else None,
        "val_majority_accuracy": float((val[1] == majority).float().mean()) if val else None,
        "history": history,
    }
    out = Path(options.out)
    save_prior(out / "prior.safetensors", prior, {"ckpt": options.ckpt, "data": options.data})
    (out / "prior_training.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
