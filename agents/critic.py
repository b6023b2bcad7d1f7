"""A critic on the world model's pooled features, trained in imagination (Dreamer-style).

The planner imagines only ``horizon`` steps; a target further away is worth nothing to it.
The critic estimates what lies beyond: ``V(f)`` is the expected discounted sum of predicted
rewards after the imagined frame whose pooled final features (``Imagination.features``) are
``f``. The planner adds ``discount**H * alive_H * V(f_H)`` to each candidate's score.

Training (``lsswm agents train-critic``): real contexts from a dataset are observed, then the
model imagines ``horizon`` frames under sticky random actions (the planner's first
iteration samples near-uniform sequences too). Targets are TD(lambda) returns of the
predicted rewards and termination probabilities, bootstrapped with a slowly updated copy of
the critic (as in Dreamer and TD-MPC2):

    G_t = r_{t+1} + gamma * (1 - p_{t+1}) * ((1 - lambda) * V'(f_{t+1}) + lambda * G_{t+1}),
    G_H = V'(f_H)

and V(f_t) regresses G_t (MSE) for t = 1..H-1. The critic's values are for the behaviour
policy of these rollouts (random), a lower bound on what a planner achieves: the critic
says which places are near rewards, not how to reach them.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lsswm.agents.head_files import head_mlp

CRITIC_META_KEY = "lsswm_critic"


CRITIC_INPUTS = ("features", "latents", "trajectory")


@dataclass(frozen=True)
class CriticConfig:
    feature_dim: int  # size of one input vector
    hidden: int = 128
    discount: float = 0.97
    lambda_: float = 0.95
    # What the critic reads of an imagined frame: the pooled final features, or the frame's
    # predicted clean latents (flattened), which keep where things are in the view.
    inputs: str = "features"
    # "trajectory" inputs: the length of the imagined trajectories the head reads
    # (trajectory_inputs); 0 for the other inputs.
    trajectory_frames: int = 0
    # "value": the output is the value itself. "hit-logit": a reward head (fit-critic
    # --targets reward), whose output is the logit of a real reward at the imagined frame.
    output: str = "value"
    # Reward heads: the fit weighs hits up by neg/pos (class balance), which moves the logit
    # by log(neg/pos). This offset, log(pos/neg), moves it back, so that sigmoid(logit +
    # offset) is the probability of a hit at the data's own rate; reward_at_hit is the mean
    # real reward of a hit. Their product is the expected reward of a frame.
    hit_logit_offset: float = 0.0
    reward_at_hit: float = 1.0


class Critic(nn.Module):
    def __init__(self, config: CriticConfig) -> None:
        super().__init__()
        self.config = config
        self.net = head_mlp(config.feature_dim, config.hidden, 1, hidden_layers=2)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features.float()).squeeze(-1)

    def require_reward_head(self, name: str = "this head") -> None:
        if self.config.output != "hit-logit":
            raise ValueError(
                f"{name} is a value critic, not a reward head; fit one with lsswm agents "
                "fit-critic --targets reward"
            )

    def hit_probability(self, features: Tensor) -> Tensor:
        """A reward head's probability of a real reward at each frame (at the balanced rate
        it was fitted at)."""
        self.require_reward_head()
        return torch.sigmoid(self(features))

    def expected_reward(self, features: Tensor) -> Tensor:
        """A reward head's expected real reward at each frame: the probability of a hit at
        the training data's rate of hits (not the balanced one) times a hit's reward."""
        self.require_reward_head()
        logits = self(features) + self.config.hit_logit_offset
        return torch.sigmoid(logits) * self.config.reward_at_hit


def critic_inputs(imagined: Any, inputs: str = "features", frames: int = 0) -> Tensor:
    """(B, n, dim) inputs of a critic for the imagined frames of one ``imagine`` call;
    ``frames``: the trajectory length of "trajectory" inputs (trajectory_inputs)."""
    if inputs not in CRITIC_INPUTS:
        raise ValueError(f"critic inputs {inputs!r}: choose one of {', '.join(CRITIC_INPUTS)}")
    if inputs == "latents":
        return imagined.latents.flatten(2).float()
    if inputs == "trajectory":
        return trajectory_inputs(imagined.features.float(), frames)
    return imagined.features.float()


def trajectory_width(frames: int, dim: int) -> int:
    """Numbers per row of trajectory_inputs: ``frames`` feature vectors and a one-hot depth."""
    return frames * (dim + 1)


def trajectory_inputs(features: Tensor, frames: int) -> Tensor:
    """(B, n, D) features of imagined frames 1..n -> (B, n, frames * D + frames): row k holds
    the features of frames 1..k (zeros after them) and k one-hot. A head that reads them sees
    the whole imagined path to a frame, not the frame alone; the path must start at the
    imagination's first frame, so only ``lsswm eval reward`` reads heads this way."""
    batch, count, dim = features.shape
    if not 1 <= count <= frames:
        raise ValueError(
            f"a trajectory head reads up to {frames} imagined frames, got {count}; score it "
            f"with a horizon of at most {frames}"
        )
    rows = features.new_zeros(batch, count, trajectory_width(frames, dim))
    for k in range(count):
        rows[:, k, : (k + 1) * dim] = features[:, : k + 1].flatten(1)
        rows[:, k, frames * dim + k] = 1.0
    return rows


def critic_input_width(model_config: Any, inputs: str, frames: int = 0) -> int:
    """Numbers per row that critic_inputs gives of a model's imagined frame for ``inputs``
    (``frames``: the trajectory length of "trajectory" inputs)."""
    if inputs == "latents":
        return model_config.tokens_per_frame * model_config.latent_channels
    if inputs == "trajectory":
        return trajectory_width(frames, model_config.d_model)
    return model_config.d_model


def check_reward_head(head: Critic, model_config: Any, path: str) -> None:
    """A clear error (ValueError) unless ``head`` (loaded from ``path``) is a reward head
    fitted on this model's frames: its input size must be what it reads of them."""
    head.require_reward_head(path)
    expected = critic_input_width(model_config, head.config.inputs, head.config.trajectory_frames)
    if head.config.feature_dim != expected:
        raise ValueError(
            f"{path} reads {head.config.feature_dim} numbers per frame, but this world model "
            f"gives {expected} ({head.config.inputs}): it was fitted on another model; fit it "
            "on this checkpoint with lsswm agents fit-critic"
        )


def head_inputs(imagined: Any, head: Any) -> Tensor:
    """(B, n, dim) what ``head`` (a critic, a motion head, or any callable with an optional
    ``config.inputs``) reads of the imagined frames; plain callables read the features. The
    planner and the imagination env read heads frame by frame: a trajectory head is refused."""
    inputs = getattr(getattr(head, "config", None), "inputs", "features")
    if inputs == "trajectory":
        raise ValueError(
            "a trajectory head (--inputs trajectory) reads a whole imagined path, which only "
            "lsswm eval reward gives it; fit the planner's heads with --inputs features"
        )
    return critic_inputs(imagined, inputs)


def lambda_returns(
    rewards: Tensor, continues: Tensor, values: Tensor, discount: float, lambda_: float
) -> Tensor:
    """TD(lambda) targets (B, H-1) for frames 1..H-1 (0-based columns 0..H-2) from rewards,
    continue probabilities and bootstrap values (B, H) of imagined frames 1..H."""
    horizon = rewards.size(1)
    target = values[:, -1]
    out = []
    for t in range(horizon - 2, -1, -1):
        nxt = t + 1
        blend = (1 - lambda_) * values[:, nxt] + lambda_ * target
        target = rewards[:, nxt] + discount * continues[:, nxt] * blend
        out.append(target)
    return torch.stack(out[::-1], dim=1)


def save_critic(path: str | Path, critic: Critic, extra: dict[str, Any]) -> Path:
    from lsswm.agents.head_files import save_head

    return save_head(path, critic, CRITIC_META_KEY, extra)


def load_critic(path: str | Path, device: str | torch.device = "cpu") -> Critic:
    from lsswm.agents.head_files import load_head

    what = "a critic checkpoint (lsswm agents train-critic or fit-critic)"
    return load_head(path, CRITIC_META_KEY, what, Critic, CriticConfig, device)


def sticky_actions(
    count: int, horizon: int, num_actions: int, stickiness: float, generator: torch.Generator
) -> Tensor:
    actions = torch.randint(0, num_actions, (count, horizon), generator=generator)
    keep = torch.rand(count, horizon, generator=generator) < stickiness
    for t in range(1, horizon):
        actions[:, t] = torch.where(keep[:, t], actions[:, t - 1], actions[:, t])
    return actions


@dataclass
class CriticTrainingOptions:
    ckpt: str
    data: str
    out: str
    steps: int = 300
    batch: int = 32
    horizon: int = 15
    context_length: int = 10
    denoising_steps: int = 1
    lr: float = 1e-3
    target_update: float = 0.02  # Polyak rate of the bootstrap copy
    discount: float = 0.97
    lambda_: float = 0.95
    stickiness: float = 0.75
    seed: int = 0
    progress: bool = True


def train_critic(options: CriticTrainingOptions) -> dict[str, Any]:
    from lsswm.agents.contexts import DatasetContexts
    from lsswm.agents.model_io import load_frame_world_model, to_model_frames

    torch.manual_seed(options.seed)
    model = load_frame_world_model(options.ckpt)
    config = CriticConfig(
        feature_dim=model.config.d_model, discount=options.discount, lambda_=options.lambda_
    )
    critic = Critic(config)
    target = copy.deepcopy(critic).requires_grad_(False)
    optimizer = torch.optim.Adam(critic.parameters(), lr=options.lr)
    contexts = DatasetContexts(options.data, options.context_length)
    rng = np.random.default_rng(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    history = []
    for step in range(options.steps):
        batch = contexts.sample(options.batch, options.context_length, rng)
        with torch.no_grad():
            stream = model.start_stream(options.batch)
            frames = torch.as_tensor(to_model_frames(batch.frames, model))
            stream.observe_frames(frames, torch.as_tensor(batch.actions))
            actions = sticky_actions(
                options.batch,
                options.horizon,
                model.config.action_size,
                options.stickiness,
                generator,
            )
            out = stream.imagine(
                actions, options.denoising_steps, generator=generator, decode=False
            )
            features = out.features.float()
            values = target(features)
            returns = lambda_returns(
                out.rewards.float(),
                1 - out.termination_probs.float(),
                values,
                options.discount,
                options.lambda_,
            )
        predicted = critic(features[:, :-1])
        loss = (predicted - returns).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for p_target, p in zip(target.parameters(), critic.parameters(), strict=True):
                p_target.lerp_(p, options.target_update)
        history.append(
            {
                "step": step + 1,
                "loss": float(loss.detach()),
                "mean_value": float(predicted.detach().mean()),
                "mean_reward": float(out.rewards.mean()),
            }
        )
        if options.progress and (step + 1) % 25 == 0:
            print(
                f"critic step {step + 1}/{options.steps}: loss {float(loss.detach()):.5f}, "
                f"mean value {float(predicted.detach().mean()):.4f}",
                file=sys.stderr,
            )
    summary = {"options": asdict(options), "history": history}
    out_dir = Path(options.out)
    save_critic(out_dir / "critic.safetensors", critic, {"ckpt": options.ckpt})
    (out_dir / "critic_training.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
