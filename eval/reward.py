"""Reward prediction on held-out real episodes: ``lsswm eval reward``.

Does the world model know when a target is hit? For every frame t of held-out episodes the
label is the real reward (a hit: reward > 0) and the score is the model's predicted reward:

* **observed** (k = 0): the stream observes the whole episode (teacher forcing) and the
  reward head reads each frame as it is observed;
* **open loop, k steps ahead** (k = 1..H): from the real context up to frame t-k, the model
  imagines frames t-k+1..t with the real actions and predicts the reward of frame t.

Open loop, every start s (after ``min_context`` frames, every ``stride``-th frame) is a
row, imagined by ``agents.open_loop`` (one stream over the episode, as the planner's).

Metrics per k: AUROC (rank-based, ties averaged), and precision / recall of "predicted
reward > threshold" (a fixed threshold, 0.5 by default, chosen before seeing the data:
the sign head predicts P(positive) - P(negative), so 0.5 means a hit is the likely
outcome), plus the base rate.

``reward_head`` (``lsswm agents fit-critic --targets reward``) scores with a reward head fitted
to imagined frames instead of the world model's own head: its probability of a hit, read from
the observed frame's features at k = 0 and from the imagined frame's at k > 0. A trajectory
head (``--inputs trajectory``) reads the features of the imagined path up to the frame, and
at k = 0 the observed frame as a path of one. Fitted with class-balanced weights, its
balanced decision point is 0.5. Results: ``reward.json`` (docs/evaluation.md schema, suite
``reward``) and ``reward_auroc.png`` (AUROC vs steps ahead).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsswm.agents.hit_metrics import auroc, precision_recall
from lsswm.eval.errors import EvalError

RESULTS_FILE = "reward.json"
PLOT_FILE = "reward_auroc.png"


@dataclass
class RewardEpisode:
    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    actions: np.ndarray  # (T,) int64; actions[t] led to frame t
    rewards: np.ndarray  # (T,) float32; the reward on arriving at frame t


@dataclass
class RewardOptions:
    ckpt: str
    out: str
    data: str | None = None
    env_id: str = "lsswm/MemoryMaze-9x9-v0"
    policy: str = "oracle-mix"
    episodes: int = 4
    max_steps: int = 500
    seed_base: int = 2_000_000_000
    horizon: int = 8
    min_context: int = 10
    stride: int = 1
    denoising_steps: int | None = 3
    threshold: float = 0.5
    device: str = "cpu"
    seed: int = 0
    progress: bool = True
    notes: list[str] = field(default_factory=list)
    reward_head: str = ""  # a fit-critic --targets reward head; "": the world model's head


def dataset_reward_episodes(root: str | Path, count: int) -> list[RewardEpisode]:
    from lsswm.collect.dataset import open_dataset

    dataset = open_dataset(root)
    found = []
    for index, episode in enumerate(dataset):
        if index >= count:
            break
        found.append(
            RewardEpisode(
                name=dataset.records[index].name,
                frames=np.array(episode["frames"]),
                actions=np.array(episode["actions"]),
                rewards=np.asarray(episode["rewards"], dtype=np.float32),
            )
        )
    if not found:
        raise EvalError(f"{root} holds no episode")
    return found


def env_reward_episodes(options: RewardOptions) -> list[RewardEpisode]:
    """Episodes recorded now with ``options.policy`` on seeds seed_base + i."""
    from lsswm.collect.policies import make_policy
    from lsswm.collect.rollout import make_env, rollout_episode

    env = make_env(options.env_id)
    try:
        policy = make_policy(options.policy, env, max_steps=options.max_steps)
        found = []
        for i in range(options.episodes):
            seed = options.seed_base + i
            data = rollout_episode(env, policy, seed, options.max_steps)
            found.append(
                RewardEpisode(
                    name=f"seed{seed}",
                    frames=np.asarray(data.arrays["frames"]),
                    actions=np.asarray(data.arrays["actions"]),
                    rewards=np.asarray(data.arrays["rewards"], dtype=np.float32),
                )
            )
    finally:
        env.close()
    return found


@torch.no_grad()
def observed_rewards(
    model: Any, episode: RewardEpisode, device: str, head: Any = None
) -> np.ndarray:
    """Teacher-forced predicted reward of every frame (T,): the model's reward head's, or
    ``head``'s probability of a hit."""
    from lsswm.agents.critic import head_inputs, trajectory_inputs
    from lsswm.agents.model_io import to_model_frames

    frames = torch.as_tensor(to_model_frames(episode.frames, model), device=device)
    actions = torch.as_tensor(episode.actions, device=device)
    stream = model.start_stream(1)
    out = stream.observe_frames(frames[None], actions[None])
    if head is None:
        return out.rewards[0].float().cpu().numpy()
    if head.config.inputs == "trajectory":
        # Nothing is imagined at k = 0: every observed frame is read as a path of one frame.
        single = out.features[0][:, None].float()  # (T, 1, D)
        inputs = trajectory_inputs(single, head.config.trajectory_frames)[:, 0][None]
    else:
        inputs = head_inputs(out, head)
    return head.hit_probability(inputs)[0].float().cpu().numpy()


def load_reward_head(path: str, model: Any, device: str) -> Any:
    """A reward head (fit-critic --targets reward) fitted on ``model``'s frames, or a clear
    error for any other file."""
    from lsswm.agents.critic import check_reward_head, load_critic
    from lsswm.agents.errors import AgentError

    try:
        head = load_critic(path, device)
        check_reward_head(head, model.config, path)
    except (AgentError, ValueError) as error:
        raise EvalError(str(error)) from error
    return head


def run_reward_eval(options: RewardOptions) -> dict[str, Any]:
    from lsswm.agents.model_io import load_frame_world_model
    from lsswm.agents.open_loop import open_loop
    from lsswm.eval.confidence import pooled_statistic_interval
    from lsswm.eval.plots import _pyplot, _save
    from lsswm.eval.results import new_results, write_results
    from lsswm.eval.tables import make_table, text_table

    if options.horizon < 1 or options.min_context < 1 or options.stride < 1:
        raise EvalError("--horizon, --min-context and --stride must be >= 1")
    model = load_frame_world_model(options.ckpt, device=options.device)
    head = (
        load_reward_head(options.reward_head, model, options.device)
        if options.reward_head
        else None
    )
    path_frames = head.config.trajectory_frames if head is not None else 0
    if path_frames and options.horizon > path_frames:
        raise EvalError(
            f"{options.reward_head} reads imagined paths of up to {path_frames} frames: use "
            f"--horizon {path_frames} or less"
        )
    if options.data:
        episodes = dataset_reward_episodes(options.data, options.episodes)
    else:
        episodes = env_reward_episodes(options)
    generator = torch.Generator(device=options.device).manual_seed(options.seed)
    scores: dict[int, list[np.ndarray]] = {k: [] for k in range(options.horizon + 1)}
    labels: dict[int, list[np.ndarray]] = {k: [] for k in range(options.horizon + 1)}
    for number, episode in enumerate(episodes):
        if options.progress:
            print(f"episode {number + 1}/{len(episodes)} {episode.name}", file=sys.stderr)
        hits = episode.rewards > 0
        observed = observed_rewards(model, episode, options.device, head)
        keep = slice(options.min_context, None)  # the same frames as the open-loop targets
        scores[0].append(observed[keep])
        labels[0].append(hits[keep])
        ahead = open_loop(
            model,
            episode.frames,
            episode.actions,
            options.horizon,
            options.min_context,
            options.stride,
            options.denoising_steps,
            generator,
            options.device,
            keep=None if head is None else head.config.inputs,
        )
        if head is None:
            predicted = ahead.rewards
        else:
            with torch.no_grad():
                predicted = head.hit_probability(torch.as_tensor(ahead.inputs)).numpy()
        for k in range(1, options.horizon + 1):
            scores[k].append(predicted[:, k - 1])
            labels[k].append(hits[ahead.starts + k])
    rows, curve = [], []
    for k in range(options.horizon + 1):
        score = np.concatenate(scores[k]) if scores[k] else np.zeros(0)
        label = np.concatenate(labels[k]) if labels[k] else np.zeros(0, bool)
        area = auroc(score, label)
        # Frames of one episode are not independent: the interval resamples episodes.
        interval = pooled_statistic_interval(list(zip(scores[k], labels[k], strict=True)), auroc)
        precision, recall = precision_recall(score, label, options.threshold)
        row = {
            "steps_ahead": k,
            "mode": "observed" if k == 0 else "open loop",
            "frames": len(label),
            "hits": int(label.sum()),
            "base_rate": float(label.mean()) if len(label) else float("nan"),
            "auroc": area,
            "auroc_ci95": list(interval),
            "precision": precision,
            "recall": recall,
            "mean_predicted_at_hits": float(score[label].mean()) if label.any() else float("nan"),
            "mean_predicted_elsewhere": float(score[~label].mean())
            if (~label).any()
            else float("nan"),
        }
        curve.append(row)
        rows.append(
            [
                k,
                row["mode"],
                row["frames"],
                row["hits"],
                area,
                f"[{interval[0]:.3f}, {interval[1]:.3f}]",
                precision,
                recall,
                row["mean_predicted_at_hits"],
                row["mean_predicted_elsewhere"],
            ]
        )
    settings = {
        "checkpoint": str(options.ckpt),
        "data": options.data,
        "env_id": None if options.data else options.env_id,
        "policy": None if options.data else options.policy,
        "episodes": [episode.name for episode in episodes],
        "seed_base": None if options.data else options.seed_base,
        "max_steps": None if options.data else options.max_steps,
        "horizon": options.horizon,
        "min_context": options.min_context,
        "stride": options.stride,
        "denoising_steps": options.denoising_steps,
        "threshold": options.threshold,
        "reward_head": options.reward_head or None,
        "model": model.config.to_dict(),
    }
    results = new_results("reward", "Reward prediction at real target hits", settings)
    results["curve"] = curve
    results["tables"].append(
        make_table(
            "Predicted reward at real hits (k = 0: observed; k > 0: imagined k steps ahead)",
            [
                "steps ahead",
                "mode",
                "frames",
                "hits",
                "AUROC",
                "AUROC 95% CI (episodes)",
                f"precision@{options.threshold:g}",
                f"recall@{options.threshold:g}",
                "mean pred. at hits",
                "mean pred. elsewhere",
            ],
            rows,
        )
    )
    scorer = (
        f"the reward head {options.reward_head} (fitted to imagined frames) predicts P(hit)"
        if head is not None
        else "the sign head predicts P(positive) - P(negative)"
    )
    results["notes"] += [
        f"threshold {options.threshold:g} fixed in advance (not tuned on these episodes); "
        + scorer,
        "labels: real reward > 0 at the frame; open loop from the real context up to frame "
        "t - k with the real actions",
        *options.notes,
    ]
    if model.config.commit_frames > 1:
        results["notes"].append(
            "frame-local attention is bidirectional inside a chunk: at k below the horizon, a "
            "frame's prediction also reads the frames imagined after it in its chunk, from the "
            "real actions that follow it, which a reactive policy's data can give a hit away "
            "by; the horizon's k reads no later action (docs/experiments.md, section 43)"
        )
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3.5))
    steps = [r["steps_ahead"] for r in curve]
    axis.plot(steps, [r["auroc"] for r in curve], marker="o")
    axis.fill_between(
        steps,
        [r["auroc_ci95"][0] for r in curve],
        [r["auroc_ci95"][1] for r in curve],
        alpha=0.25,
        label="95% CI over episodes",
    )
    axis.axhline(0.5, color="grey", linestyle=":", label="chance")
    axis.set_xlabel("steps ahead (0: observed frame)")
    axis.set_ylabel("AUROC of predicted reward at hits")
    axis.set_ylim(0.0, 1.0)
    axis.set_title(Path(options.ckpt).parent.name or "reward prediction", fontsize=9)
    axis.legend(loc="lower left")
    figure.tight_layout()  # keeps the axis labels inside the small figure
    _save(figure, out / PLOT_FILE)
    results["plots"].append(PLOT_FILE)
    write_results(out / RESULTS_FILE, results)
    for table in results["tables"]:
        print(text_table(table))
    return results
