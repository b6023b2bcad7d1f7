"""A critic fitted to real returns, read from the features of imagined frames.

The TD critic (``agents.critic``) bootstraps the model's own predicted rewards under random
actions: where open-loop reward prediction is weak, so are its values. This critic takes its
targets from the real episodes instead. For every start ``s`` of a real episode and every
depth ``k = 1..H``, the model imagines frame ``s + k`` from the real context up to ``s`` with
the real actions (``agents.open_loop``: one stream over the whole episode, exactly as the
planner's stream), and the critic regresses

    V(f_{s+k}) ~ G_{s+k} = sum_{j >= 1} discount^(j-1) * r_{s+k+j}

the real discounted return after that frame. So it learns what the planner's imagined
features say about the real future: the value of the dataset's behaviour policy (for
``oracle-mix`` data, legs to the current target mixed with exploration) in the situation the
features describe, whatever the model's reward head gets wrong. It is the planner's value
beyond its horizon (``--critic``), at the planner's denoising steps.

Frames whose return is cut by the episode's end (the last ``tail`` frames, where
``discount**tail < 0.05``) are left out: their targets would be biased low.

``targets="shortest-path"`` (Memory Maze data with its ``state/*`` arrays) replaces the
behaviour's return by a privileged one, as an asymmetric actor-critic does: the discounted
value of reaching the current target along the shortest path,
``discount**(steps_to_goal - 1)`` (``envs.maze_oracle.steps_to_goal``). The true state is
used only to make the targets; the critic still reads imagined features, so the planner acts
from pixels and actions alone. It is the value of a good policy rather than of the data's,
and free of the behaviour's randomness (which legs were oracle legs).

``targets="motion"`` (Memory Maze data with ``state/agent_pos``) fits no value but a motion
head: the distance in cells the agent really moved in the step into each imagined frame. The
planner adds it up over its imagined steps (``--motion``), an exploration drive read from the
model's own predictions: running into a wall or turning in place predicts no motion, so a
planner that seeks motion runs along corridors instead of dithering. Like the shortest-path
targets, the true state only makes the targets.

``targets="motion-value"`` is the value of that drive beyond the horizon: the discounted
motion still to come after each imagined frame under the data's behaviour,
``sum_{j >= 1} discount^(j-1) * motion_{s+k+j}``, a critic (``--critic``) for a planner that
seeks motion. A planner facing a wall needs it: turning away takes more steps than its
horizon, and no motion comes of them within it.

``targets="reward"`` fits no value but a **reward head**: a classifier of a real reward (a
target hit) at each imagined frame, read from the imagined frame's features and fitted with
class-balanced cross-entropy (hits are about one frame in a hundred). The world model's own
reward head learns from real frames only; in imagination, a few steps ahead, the frames it
reads are blurrier than any it was trained on, and its prediction falls to chance by 8 steps.
This head learns what imagined frames at depths 1..H say about a hit, with the real reward as
the label (``lsswm eval reward --reward-head`` scores it; docs/experiments.md, section 40).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lsswm.agents.critic import CRITIC_INPUTS, Critic, CriticConfig, save_critic
from lsswm.agents.errors import AgentError
from lsswm.agents.hit_metrics import auroc


@dataclass
class ReturnsCriticOptions:
    ckpt: str
    data: str
    out: str
    val_data: str = ""  # held-out episodes for the fit's report (recommended)
    episodes: int = 0  # 0: all of --data
    val_episodes: int = 0
    horizon: int = 8  # depths 1..H: the planner's horizon
    min_context: int = 10
    stride: int = 2  # every stride-th start of an episode
    denoising_steps: int = 1  # the planner's
    discount: float = 0.97  # the planner's
    epochs: int = 30
    batch: int = 512
    lr: float = 1e-3
    hidden: int = 128
    # What the critic reads (CRITIC_INPUTS): "features" or "latents" of the imagined frame, or
    # "trajectory", the features of every imagined frame up to it (reward heads for eval only)
    inputs: str = "features"
    targets: str = "returns"  # "returns" (real, of the data's behaviour) or "shortest-path"
    seed: int = 0
    device: str = "cpu"
    progress: bool = True


def discounted_returns(rewards: np.ndarray, discount: float) -> np.ndarray:
    """G_t = sum_{j>=1} discount^(j-1) r_{t+j} for every frame t (0 after the last frame)."""
    returns = np.zeros(len(rewards), np.float64)
    for t in range(len(rewards) - 2, -1, -1):
        returns[t] = rewards[t + 1] + discount * returns[t + 1]
    return returns.astype(np.float32)


def truncation_tail(discount: float) -> int:
    """Frames at an episode's end whose return is cut by more than 5%."""
    return math.ceil(math.log(0.05) / math.log(discount)) if discount < 1 else 10**9


VALUE_TARGETS = ("returns", "shortest-path", "motion", "motion-value", "reward")


def shortest_path_values(episode: dict[str, Any], discount: float) -> np.ndarray:
    """discount**(steps to the current target - 1) at every frame, from the episode's true
    state (the target shown at frame t is the next one to reach)."""
    from lsswm.envs.maze_oracle import steps_to_goal

    keys = ("agent_pos", "agent_dir", "maze_layout", "target_pos")
    missing = [k for k in keys if f"state/{k}" not in episode]
    if missing:
        raise AgentError(
            f"shortest-path value targets need the dataset's state/{', state/'.join(missing)} "
            "(Memory Maze episodes recorded by lsswm collect); use --targets returns"
        )
    arrays = {k: np.asarray(episode[f"state/{k}"]) for k in keys}
    values = np.zeros(len(arrays["agent_pos"]), np.float32)
    for t in range(len(values)):
        state = {k: v[t] for k, v in arrays.items()}
        steps = steps_to_goal(state, state["target_pos"])
        values[t] = discount ** max(steps - 1.0, 0.0) if np.isfinite(steps) else 0.0
    return values


def motion_targets(episode: dict[str, Any]) -> np.ndarray:
    """Distance in cells the agent moved into every frame (0 at the first), from the
    episode's true positions."""
    if "state/agent_pos" not in episode:
        raise AgentError(
            "motion targets need the dataset's state/agent_pos (Memory Maze episodes recorded "
            "by lsswm collect); use --targets returns"
        )
    positions = np.asarray(episode["state/agent_pos"], np.float64)
    moved = np.zeros(len(positions), np.float32)
    moved[1:] = np.linalg.norm(np.diff(positions, axis=0), axis=-1)
    return moved


@dataclass
class FeatureBank:
    features: np.ndarray  # (N, D) imagined features
    returns: np.ndarray  # (N,) real return after the imagined frame
    depth: np.ndarray  # (N,) steps ahead it was imagined (1..H)
    # reward targets only: the real reward of every hit in the episodes (its mean is a hit's)
    hit_rewards: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


def build_bank(
    model: Any, root: str, count: int, options: ReturnsCriticOptions, generator: torch.Generator
) -> FeatureBank:
    """Imagined features at depths 1..H and the real returns, over ``count`` episodes."""
    from lsswm.agents.open_loop import open_loop
    from lsswm.collect.dataset import open_dataset

    dataset = open_dataset(root)
    total = len(dataset.records) if count <= 0 else min(count, len(dataset.records))
    # Discounted sums are cut by the episode's end; shortest-path values and motion are not.
    discounted = options.targets in ("returns", "motion-value")
    tail = truncation_tail(options.discount) if discounted else 0
    features, returns, depths, hit_rewards = [], [], [], []
    for index, episode in enumerate(dataset):
        if index >= total:
            break
        rewards = np.asarray(episode["rewards"], dtype=np.float32)
        result = open_loop(
            model,
            np.array(episode["frames"]),  # copies: the dataset's arrays are read-only maps
            np.array(episode["actions"]),
            options.horizon,
            options.min_context,
            options.stride,
            options.denoising_steps,
            generator,
            options.device,
            keep=options.inputs,
        )
        inputs = result.inputs
        assert inputs is not None
        if options.targets == "returns":
            targets = discounted_returns(rewards, options.discount)
        elif options.targets == "motion":
            targets = motion_targets(episode)
        elif options.targets == "motion-value":
            targets = discounted_returns(motion_targets(episode), options.discount)
        elif options.targets == "reward":
            targets = (rewards > 0).astype(np.float32)  # a hit on arriving at the frame
            hit_rewards.append(rewards[rewards > 0])
        else:
            targets = shortest_path_values(episode, options.discount)
        frame = result.starts[:, None] + np.arange(1, options.horizon + 1)[None]  # (S, H)
        keep = frame < len(rewards) - tail
        features.append(inputs[keep])
        returns.append(targets[frame[keep]])
        depths.append(np.broadcast_to(np.arange(1, options.horizon + 1), frame.shape)[keep])
        if options.progress:
            print(
                f"{root}: episode {index + 1}/{total}, {int(keep.sum())} imagined frames",
                file=sys.stderr,
            )
    if not features or not sum(len(f) for f in features):
        cut = (
            f" (the last {tail} frames of each, at --discount {options.discount:g})" if tail else ""
        )
        raise AgentError(
            f"{root} holds no episode long enough for the critic's targets{cut}: use longer "
            "episodes, or a smaller --discount for discounted targets"
        )
    return FeatureBank(
        np.concatenate(features),
        np.concatenate(returns),
        np.concatenate(depths),
        np.concatenate(hit_rewards) if hit_rewards else np.zeros(0, np.float32),
    )


def fit_report(critic: Critic, bank: FeatureBank, horizon: int) -> dict[str, Any]:
    """Correlation and R^2 of the critic's values with the real returns, overall and by depth;
    for a reward head, AUROC of its logits at the real hits."""
    with torch.no_grad():
        values = critic(torch.as_tensor(bank.features)).numpy()

    def scores(mask: np.ndarray) -> dict[str, float]:
        truth, guess = bank.returns[mask], values[mask]
        if critic.config.output == "hit-logit":
            return {
                "frames": int(mask.sum()),
                "hits": int(truth.sum()),
                "auroc": auroc(guess, truth),
            }
        variance = float(truth.var())
        r2 = 1.0 - float(((guess - truth) ** 2).mean()) / variance if variance > 0 else math.nan
        corr = float(np.corrcoef(truth, guess)[0, 1]) if truth.std() > 0 and guess.std() > 0 else 0
        return {"frames": int(mask.sum()), "r2": r2, "pearson": corr}

    report = {"all": scores(np.ones(len(values), bool))}
    report["by_depth"] = {str(k): scores(bank.depth == k) for k in range(1, horizon + 1)}
    report["mean_return"] = float(bank.returns.mean())
    return report


def hit_calibration(bank: FeatureBank) -> dict[str, float]:
    """A reward head's logit offset back to the data's rate of hits, and a hit's mean reward."""
    hits = float(bank.returns.sum())
    frames = len(bank.returns)
    if hits == 0 or hits == frames:
        return {}  # fit_loss refuses such labels with a clear message
    offset = math.log(hits / (frames - hits))
    return {"hit_logit_offset": offset, "reward_at_hit": float(bank.hit_rewards.mean())}


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).pow(2).mean()


def fit_loss(labels: torch.Tensor) -> Any:
    """Class-balanced binary cross-entropy for a reward head: hits weigh as much in all as the
    frames without one, so the rare class is not ignored."""
    hits = float(labels.sum())
    if hits == 0 or hits == len(labels):
        raise AgentError(
            "a reward head needs frames with and without a real reward in --data; collect with "
            "a policy that reaches targets (e.g. --policy oracle-mix)"
        )
    weight = torch.tensor((len(labels) - hits) / hits)
    return lambda logits, target: F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=weight
    )


def fit_returns_critic(options: ReturnsCriticOptions) -> dict[str, Any]:
    from lsswm.agents.model_io import load_frame_world_model

    if options.inputs not in CRITIC_INPUTS:
        raise AgentError(f"--inputs {options.inputs!r}: choose one of {', '.join(CRITIC_INPUTS)}")
    if options.inputs == "trajectory" and options.targets != "reward":
        raise AgentError(
            "--inputs trajectory is for reward heads (--targets reward), which lsswm eval "
            "reward scores; the planner reads values frame by frame (--inputs features)"
        )
    if options.targets not in VALUE_TARGETS:
        raise AgentError(f"--targets {options.targets!r}: choose one of {', '.join(VALUE_TARGETS)}")
    torch.manual_seed(options.seed)
    model = load_frame_world_model(options.ckpt, device=options.device)
    generator = torch.Generator(device=options.device).manual_seed(options.seed)
    train = build_bank(model, options.data, options.episodes, options, generator)
    val = (
        build_bank(model, options.val_data, options.val_episodes, options, generator)
        if options.val_data
        else None
    )
    config = CriticConfig(
        feature_dim=train.features.shape[1],
        hidden=options.hidden,
        discount=options.discount,
        inputs=options.inputs,
        output="hit-logit" if options.targets == "reward" else "value",
        trajectory_frames=options.horizon if options.inputs == "trajectory" else 0,
        **(hit_calibration(train) if options.targets == "reward" else {}),
    )
    critic = Critic(config)
    optimizer = torch.optim.Adam(critic.parameters(), lr=options.lr)
    inputs, targets = torch.as_tensor(train.features), torch.as_tensor(train.returns)
    loss_of = fit_loss(targets) if options.targets == "reward" else mse
    loss_name = "bce" if options.targets == "reward" else "mse"
    rng = torch.Generator().manual_seed(options.seed)
    history = []
    for epoch in range(options.epochs):
        order = torch.randperm(len(inputs), generator=rng)
        total = 0.0
        for first in range(0, len(order), options.batch):
            rows = order[first : first + options.batch]
            loss = loss_of(critic(inputs[rows]), targets[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        entry = {"epoch": epoch + 1, f"train_{loss_name}": total / len(order)}
        if val is not None:
            with torch.no_grad():
                guess = critic(torch.as_tensor(val.features))
            entry[f"val_{loss_name}"] = float(loss_of(guess, torch.as_tensor(val.returns)))
        history.append(entry)
        if options.progress:
            print(f"critic epoch {epoch + 1}/{options.epochs}: {entry}", file=sys.stderr)
    critic.eval()
    summary = {
        "options": asdict(options),
        "targets": options.targets,
        "train_frames": len(train.returns),
        "train_fit": fit_report(critic, train, options.horizon),
        "val_fit": fit_report(critic, val, options.horizon) if val is not None else None,
        "history": history,
    }
    out = Path(options.out)
    extra = {"ckpt": options.ckpt, "targets": options.targets, "data": options.data}
    extra["denoising_steps"] = options.denoising_steps
    save_critic(out / "critic.safetensors", critic, extra)
    (out / "critic_training.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
