"""Train a Stable-Baselines3 agent entirely inside the world model, then test it for real.

1. Load the world model (with its tokenizer) and a source of real starting contexts: a
   dataset (``data``) or, without one, the live env (``env_id``).
2. Train PPO or A2C on :class:`ImaginationVecEnv` (``num_envs`` imagined episodes stepped as
   one batch; rewards and terminations are the model's predictions).
3. Save the policy zip, then play ``eval_episodes`` episodes of the REAL env on held-out
   seeds with it (and with the random agent, for scale), scored like the navigation suite.

The summary (settings, imagined returns, real scores) goes to ``train_in_imagination.json``,
a results JSON of the shared schema (docs/evaluation.md, ``"suite": "train-in-imagination"``)
so ``lsswm report`` renders it (header and writer: ``lsswm.agents.results``).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.agents.errors import AgentError
from lsswm.agents.results import new_results, write_results
from lsswm.agents.weighted_paths import weighted_paths
from lsswm.envs.legacy_gym import import_gym_quietly

ALGORITHMS = ("ppo", "a2c")
# What an imagined episode shows its agent: the frames (pixels, as the real env shows them),
# or the world model's pooled features of each frame (as Dreamer's actor reads the model
# state): one representation in imagination and in the real env, where the agent's own
# stream of the model observes the real frames (agents/feature_policy.py).
OBSERVATIONS = ("frames", "features")
# The shaping critic's value as the potential, or minus the steps to go it stands for
# (agents/imagination.py, ImaginedBatch).
SHAPING_POTENTIALS = ("value", "steps")
# What the horizon does to an imagined episode: cut it off (the learner bootstraps) or end it.
HORIZON_ENDS = ("truncate", "terminate")
POLICY_FILE = "policy.zip"
SUMMARY_FILE = "train_in_imagination.json"
SUITE = "train-in-imagination"
NATURE_CNN_MIN_SIDE = 36  # SB3's default CnnPolicy needs images at least this large
SMALL_CNN = "small-cnn"  # CnnPolicy with agents/small_cnn.py's encoder, for smaller frames


@dataclass
class ImaginationTrainingOptions:
    ckpt: str
    out: str
    data: str | None = None
    # share of --data contexts that end 1..near_reward_within frames before a reward
    near_reward_fraction: float = 0.0
    near_reward_within: int = 8
    env_id: str | None = None
    algo: str = "ppo"
    policy: str = "auto"  # auto: CnnPolicy for images >= 36 px, else MlpPolicy; or small-cnn
    timesteps: int = 20_000
    num_envs: int = 8
    horizon: int = 64
    horizon_ends: str = "truncate"  # or "terminate": no bootstrap at the horizon
    context_length: int = 8
    denoising_steps: int | None = 4
    termination_threshold: float = 0.5
    motion: str = ""  # a motion head (fit-critic --targets motion): exploration drive
    motion_weight: float = 1.0
    reward_weight: float = 1.0  # the predicted reward's weight (in the target value's units)
    # a reward head (fit-critic --targets reward) in place of the model's own reward
    reward_head: str = ""
    observation: str = "frames"  # or "features": the policy reads the model's features
    frame_stack: int = 1  # frames: the policy sees the last K frames (agents/frame_stack.py)
    # critics (fit-critic, comma-separated): potential-based shaping toward what they value,
    # with comma-separated weights (empty: 1 each)
    shaping: str = ""
    shaping_weight: str = ""
    shaping_potential: str = "value"  # or "steps": minus the critic's steps to go
    shaping_max_steps: float = 20.0  # "steps": the farthest the potential tells apart
    n_steps: int = 64
    batch_size: int = 64
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    ent_coef: float = 0.0  # entropy bonus (SB3's default 0; CleanRL's Atari PPO uses 0.01)
    seed: int = 0
    eval_episodes: int = 3
    eval_max_steps: int = 500
    eval_seed_base: int = 1_000_000_000
    eval_random: bool = True
    device: str = "cpu"
    progress: bool = True

    def validate(self) -> None:
        if self.observation not in OBSERVATIONS:
            raise AgentError(
                f"--observe {self.observation!r} is not supported; use one of {OBSERVATIONS}"
            )
        if self.algo not in ALGORITHMS:
            raise AgentError(f"--algo {self.algo!r} is not supported; use one of {ALGORITHMS}")
        if self.data is None and self.env_id is None:
            raise AgentError(
                "no starting contexts: pass --data DATASET (recorded episodes) or --env ID "
                "(record contexts live)"
            )
        if self.near_reward_fraction and self.data is None:
            raise AgentError(
                "--start-near-reward draws contexts before a dataset's rewards; pass --data DATASET"
            )
        if self.policy == SMALL_CNN and self.observation != "frames":
            raise AgentError(f"--policy {SMALL_CNN} encodes frames; use it with --observe frames")
        if self.frame_stack < 1:
            raise AgentError(f"--frame-stack {self.frame_stack} must be >= 1")
        if self.frame_stack > 1 and self.observation != "frames":
            raise AgentError(
                "--frame-stack stacks frames; with --observe features the model's stream "
                "already carries the past: leave --frame-stack at 1"
            )
        if self.horizon_ends not in HORIZON_ENDS:
            raise AgentError(
                f"--horizon-ends {self.horizon_ends!r} is not supported; use one of {HORIZON_ENDS}"
            )
        if self.shaping_potential not in SHAPING_POTENTIALS:
            raise AgentError(
                f"--shaping-potential {self.shaping_potential!r} is not supported; use one of "
                f"{SHAPING_POTENTIALS}"
            )
        weighted_paths(self.shaping, str(self.shaping_weight), "--shaping")  # or a clear error
        if self.shaping_max_steps <= 0:
            raise AgentError(f"--shaping-max-steps {self.shaping_max_steps} must be > 0")
        if self.timesteps < 1 or self.num_envs < 1 or self.n_steps < 1:
            raise AgentError("--timesteps, --num-envs and --n-steps must be >= 1")
        if self.eval_episodes < 0 or self.eval_max_steps < 1:
            raise AgentError("--eval-episodes must be >= 0 and --eval-max-steps >= 1")


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def summary_tables(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's tables: the imagination training, then the real-env scores per agent."""
    settings, training = summary["settings"], summary["training"]
    tables = [
        {
            "title": "Training inside the world model",
            "columns": [
                "algorithm",
                "policy",
                "imagined steps",
                "seconds",
                "steps/s",
                "recent imagined return",
            ],
            "rows": [
                [
                    settings["algo"],
                    settings["policy"],
                    settings["timesteps"],
                    _finite(training["seconds"]),
                    _finite(training["imagined_steps_per_second"]),
                    _finite(training["imagined_episode_return_recent_mean"]),
                ]
            ],
        }
    ]
    real = summary.get("real_env")
    if real:
        rows = [
            [label, _finite(entry["mean"]), len(entry["scores"])]
            for label, entry in real.items()
            if isinstance(entry, dict) and "scores" in entry
        ]
        tables.append(
            {
                "title": f"Real {settings.get('env_id')} on held-out seeds "
                f"{real['seeds'][0] if real['seeds'] else '-'}+",
                "columns": ["agent", f"mean {real['score_name']}", "episodes"],
                "rows": rows,
            }
        )
    return tables


# Seconds per imagined step (model step, policy, PPO update) assumed for the estimate, on the
# 2-core CPU with the `tiny` model: 53 imagined steps/s at 2 denoising steps and 4 envs,
# 8192 steps in about 3 minutes at 1 denoising step (docs/agents.md); None: the model's 10.
def assumed_seconds_per_imagined_step(denoising_steps: int | None) -> float:
    return 0.01 + 0.005 * (denoising_steps if denoising_steps is not None else 10)


def evaluation_part(options: ImaginationTrainingOptions, env_id: str | None) -> Any:
    """The real-env test after training (policy, and random unless skipped), assumed env rate."""
    from lsswm.cli.estimate import Part
    from lsswm.envs.speed import RESET_SECONDS, assumed_step_seconds

    agents = 1 + int(options.eval_random)
    episodes = options.eval_episodes * agents
    seconds = assumed_step_seconds(env_id or "") + RESET_SECONDS / options.eval_max_steps
    return Part(episodes * options.eval_max_steps, "real env steps", seconds)


def announce_estimate(options: ImaginationTrainingOptions, env_id: str | None) -> None:
    from lsswm.cli.estimate import Part, print_estimate

    parts = [
        Part(
            options.timesteps,
            "imagined steps",
            assumed_seconds_per_imagined_step(options.denoising_steps),
        )
    ]
    if options.eval_episodes:
        parts.append(evaluation_part(options, env_id))
    print_estimate(
        parts,
        quick="--timesteps 2048 --eval-episodes 1 --eval-max-steps 200",
        label="train-in-imagination",
    )


def _progress_callback(total: int, enabled: bool, after: Any = None) -> Any:
    """The tqdm bar over imagined steps; once the first rollout and its update are done, the
    measured rate gives the estimate of the rest (plus ``after``, a Part for the real-env
    test)."""
    import_gym_quietly()
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    class TqdmCallback(BaseCallback):
        """Imagined steps done, rate, ETA, and the mean imagined episode return."""

        def _on_training_start(self) -> None:
            self.bar = tqdm(
                total=total,
                desc="imagined steps",
                unit="step",
                disable=not enabled,
                file=sys.stderr,
            )
            self.started = time.perf_counter()
            self.rollouts = 0

        def _on_rollout_start(self) -> None:
            self.rollouts += 1
            done = self.model.num_timesteps
            if self.rollouts != 2 or not done or done >= total:
                return
            from lsswm.cli.estimate import Part, estimate_line

            seconds = (time.perf_counter() - self.started) / done
            parts = [Part(total - done, "imagined steps", seconds, measured=True)]
            parts += [after] if after is not None else []
            tqdm.write(
                estimate_line(parts, label="train-in-imagination", remaining=True),
                file=sys.stderr,
            )

        def _on_step(self) -> bool:
            self.bar.update(self.training_env.num_envs)
            buffer = self.model.ep_info_buffer
            if buffer:
                self.bar.set_postfix(imagined_return=f"{np.mean([e['r'] for e in buffer]):.3f}")
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return TqdmCallback()


def train_in_imagination(options: ImaginationTrainingOptions) -> dict[str, Any]:
    import_gym_quietly()  # stable_baselines3 imports the old gym package (and its banner)
    import stable_baselines3
    from stable_baselines3.common.vec_env import VecFrameStack, VecMonitor

    from lsswm.agents.agent_factory import make_agent
    from lsswm.agents.contexts import DatasetContexts, LiveEnvContexts
    from lsswm.agents.critic import load_critic
    from lsswm.agents.imagination import longest_context_length
    from lsswm.agents.imagination_env import ImaginationVecEnv
    from lsswm.agents.model_io import (
        check_model_fits,
        describe_space,
        env_image_shape,
        load_frame_world_model,
        model_image_shape,
    )
    from lsswm.agents.real_env import SCORE_NAMES, env_kind, make_real_env, run_episode
    from lsswm.worldmodel.checkpoint import resolve_device

    options.validate()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(options.device)
    model = load_frame_world_model(options.ckpt, device)
    longest = longest_context_length(model.config, options.context_length)
    if options.data is not None:
        contexts: Any = DatasetContexts(
            options.data,
            longest,
            near_reward_fraction=options.near_reward_fraction,
            near_reward_within=options.near_reward_within,
        )
    else:
        contexts = LiveEnvContexts(options.env_id)  # type: ignore[arg-type]
    env_id = options.env_id or contexts.env_id
    if options.eval_episodes and not env_id:
        raise AgentError(
            "the dataset does not name its env; pass --env ID for the real-env evaluation"
        )
    real_env = make_real_env(env_id, options.eval_max_steps) if options.eval_episodes else None
    if real_env is not None:
        # Refuse a mismatch before training, not after.
        check_model_fits(
            model,
            env_image_shape(real_env),
            describe_space(real_env.action_space),
            f"env {env_id}",
        )

    shaping_paths, shaping_weights = weighted_paths(
        options.shaping, str(options.shaping_weight), "--shaping"
    )
    venv = VecMonitor(
        ImaginationVecEnv(
            model,
            contexts,
            options.num_envs,
            context_length=options.context_length,
            horizon=options.horizon,
            horizon_ends=options.horizon_ends,
            denoising_steps=options.denoising_steps,
            termination_threshold=options.termination_threshold,
            seed=options.seed,
            motion=load_critic(options.motion, device) if options.motion else None,
            motion_weight=options.motion_weight,
            observation=options.observation,
            shaping=[load_critic(path, device) for path in shaping_paths],
            shaping_weight=shaping_weights,
            shaping_discount=options.gamma,
            shaping_potential=options.shaping_potential,
            shaping_max_steps=options.shaping_max_steps,
            reward_head=load_critic(options.reward_head, device) if options.reward_head else None,
            reward_weight=options.reward_weight,
        )
    )
    if options.frame_stack > 1:
        venv = VecFrameStack(venv, options.frame_stack, channels_order="last")
    policy = options.policy
    if policy == "auto":
        side = min(model_image_shape(model)[:2])
        images = options.observation == "frames" and side >= NATURE_CNN_MIN_SIDE
        policy = "CnnPolicy" if images else "MlpPolicy"
    sb3_policy, policy_kwargs = policy, {}
    if policy == SMALL_CNN:
        from lsswm.agents.small_cnn import SmallFrameCNN

        sb3_policy, policy_kwargs = "CnnPolicy", {"features_extractor_class": SmallFrameCNN}
    algorithm_class = getattr(stable_baselines3, options.algo.upper())
    algorithm_kwargs: dict[str, Any] = {
        "n_steps": options.n_steps,
        "learning_rate": options.learning_rate,
        "gamma": options.gamma,
        "ent_coef": options.ent_coef,
        "seed": options.seed,
        "device": str(device),
        "verbose": 0,
    }
    if options.algo == "ppo":
        algorithm_kwargs |= {"batch_size": options.batch_size, "n_epochs": options.n_epochs}
    agent = algorithm_class(sb3_policy, venv, policy_kwargs=policy_kwargs, **algorithm_kwargs)
    announce_estimate(options, env_id)
    after = evaluation_part(options, env_id) if options.eval_episodes else None
    start = time.perf_counter()
    agent.learn(
        options.timesteps, callback=_progress_callback(options.timesteps, options.progress, after)
    )
    train_seconds = time.perf_counter() - start
    policy_path = out / POLICY_FILE
    agent.save(policy_path)
    imagined_returns = [float(e["r"]) for e in agent.ep_info_buffer]
    venv.close()

    settings = asdict(options) | {"env_id": env_id, "policy": policy}
    title = f"Train in imagination ({options.algo.upper()} inside {Path(options.ckpt).name})"
    summary: dict[str, Any] = new_results(SUITE, title, settings, str(device))
    summary |= {
        "policy": str(policy_path),
        "training": {
            "seconds": train_seconds,
            "imagined_steps_per_second": agent.num_timesteps / max(train_seconds, 1e-9),
            "imagined_episode_return_recent_mean": (
                float(np.mean(imagined_returns)) if imagined_returns else None
            ),
        },
        "real_env": None,
    }
    if real_env is not None:
        from tqdm import tqdm

        seeds = [options.eval_seed_base + i for i in range(options.eval_episodes)]
        agents = [f"sb3:{policy_path}"] + (["random"] if options.eval_random else [])
        evaluation: dict[str, Any] = {"score_name": SCORE_NAMES[env_kind(real_env)], "seeds": seeds}
        bar = tqdm(
            total=len(agents) * len(seeds) * options.eval_max_steps,
            desc=f"real {env_id}",
            unit="step",
            disable=not options.progress,
            file=sys.stderr,
        )
        for name in agents:
            actor = make_agent(
                name, real_env, ckpt=options.ckpt, device=str(device), seed=options.seed
            )
            scores = []
            for seed in seeds:
                outcome = run_episode(
                    real_env, actor, seed, options.eval_max_steps, on_step=lambda: bar.update(1)
                )
                # An episode that ends early leaves its unplayed steps to the bar's total.
                bar.update(options.eval_max_steps - outcome.steps)
                scores.append(outcome.score)
            label = "trained in imagination" if name.startswith("sb3:") else name
            evaluation[label] = {"scores": scores, "mean": float(np.mean(scores))}
            tqdm.write(
                f"real {env_id}, {label}: {evaluation['score_name']} "
                f"{np.mean(scores):.2f} over {len(seeds)} episodes",
                file=sys.stderr,
            )
        bar.close()
        real_env.close()
        summary["real_env"] = evaluation
    else:
        summary["notes"].append("no real-env evaluation (--eval-episodes 0)")
    summary["tables"] = summary_tables(summary)
    write_results(out / SUMMARY_FILE, summary)
    return summary
