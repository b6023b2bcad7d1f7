"""CLI: ``lsswm agents train-in-imagination``, ``train-critic``, ``fit-critic``, ``lsswm play`` and
``lsswm bench planner``.

Cheap to import: torch, SB3 and the envs are imported when the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from lsswm.cli.registry import CommandRegistry


def register(registry: CommandRegistry) -> None:
    registry.describe_group("agents", "agents that act with the world model")
    registry.add(
        "train-in-imagination",
        "train an SB3 agent (PPO/A2C) inside the world model, then test it in the real env",
        _configure_train,
        _run_train,
        group="agents",
    )
    registry.add(
        "play",
        "play Memory Maze next to the world model's imagination in a local web app (Gradio)",
        _configure_play,
        _run_play,
    )
    registry.add(
        "train-critic",
        "train a critic on the world model's features in imagination (TD(lambda) returns "
        "of predicted rewards): the planner's value beyond its horizon",
        _configure_critic,
        _run_critic,
        group="agents",
    )
    registry.add(
        "fit-critic",
        "fit a critic to the real returns of a dataset's episodes, read from the features of "
        "frames imagined from real contexts: the planner's value beyond its horizon",
        _configure_fit_critic,
        _run_fit_critic,
        group="agents",
    )
    registry.add(
        "fit-prior",
        "fit a policy prior for the planner: the dataset's next action from the world "
        "model's features of the real frames (behaviour cloning)",
        _configure_fit_prior,
        _run_fit_prior,
        group="agents",
    )
    registry.describe_group("bench", "speed and memory benchmarks")
    registry.add(
        "planner",
        "seconds per real step of the planning agent at several settings (table + JSON)",
        _configure_bench,
        _run_bench,
        group="bench",
    )


def _configure_critic(parser: argparse.ArgumentParser) -> None:
    from lsswm.agents.critic import CriticTrainingOptions

    default = CriticTrainingOptions(ckpt="", data="", out="")
    parser.add_argument("--ckpt", required=True, help="world model checkpoint")
    parser.add_argument("--data", required=True, help="dataset of real starting contexts")
    parser.add_argument("--out", default="runs/critic", help="output folder")
    for name in ("steps", "batch", "horizon", "context_length", "denoising_steps", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(default, name))
    for name in ("lr", "discount", "stickiness"):
        parser.add_argument(f"--{name}", type=float, default=getattr(default, name))
    parser.add_argument("--lambda", dest="lambda_", type=float, default=default.lambda_)
    parser.add_argument("--no-progress", action="store_true")


def _run_critic(args: argparse.Namespace) -> int:
    from lsswm.agents.critic import CriticTrainingOptions, train_critic

    train_critic(
        CriticTrainingOptions(
            ckpt=args.ckpt,
            data=args.data,
            out=args.out,
            steps=args.steps,
            batch=args.batch,
            horizon=args.horizon,
            context_length=args.context_length,
            denoising_steps=args.denoising_steps,
            lr=args.lr,
            discount=args.discount,
            lambda_=args.lambda_,
            stickiness=args.stickiness,
            seed=args.seed,
            progress=not args.no_progress,
        )
    )
    return 0


def _options_from_args(options_class: type, args: argparse.Namespace) -> Any:
    """An options dataclass filled from same-named flags (``progress`` from --no-progress)."""
    from dataclasses import fields

    names = {f.name for f in fields(options_class)} - {"progress"}
    return options_class(
        **{name: getattr(args, name) for name in names}, progress=not args.no_progress
    )


def _configure_fit_critic(parser: argparse.ArgumentParser) -> None:
    from lsswm.agents.critic import CRITIC_INPUTS
    from lsswm.agents.critic_returns import VALUE_TARGETS, ReturnsCriticOptions

    default = ReturnsCriticOptions(ckpt="", data="", out="")
    parser.add_argument("--ckpt", required=True, help="world model checkpoint")
    parser.add_argument("--data", required=True, help="dataset whose episodes give the returns")
    parser.add_argument("--val-data", default="", help="held-out dataset for the fit's report")
    parser.add_argument("--out", default="runs/critic", help="output folder")
    parser.add_argument("--device", default=default.device)
    parser.add_argument(
        "--inputs",
        choices=CRITIC_INPUTS,
        default=default.inputs,
        help="what the critic reads of an imagined frame: pooled features, or its latents",
    )
    parser.add_argument(
        "--targets",
        choices=VALUE_TARGETS,
        default=default.targets,
        help="value targets: the data's real discounted returns, or (Memory Maze) the "
        "privileged discounted shortest-path value of reaching the current target; motion: "
        "not a value but a motion head (cells moved into each frame) for the planner's "
        "--motion; motion-value: the discounted motion still to come (a --critic for it); "
        "reward: a reward head, the probability of a real reward at each imagined frame "
        "(lsswm eval reward --reward-head)",
    )
    for name in ("episodes", "val_episodes", "horizon", "min_context", "stride"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(default, name))
    for name in ("denoising_steps", "epochs", "batch", "hidden", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(default, name))
    for name in ("discount", "lr"):
        parser.add_argument(f"--{name}", type=float, default=getattr(default, name))
    parser.add_argument("--no-progress", action="store_true")


def _run_fit_critic(args: argparse.Namespace) -> int:
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic

    summary = fit_returns_critic(_options_from_args(ReturnsCriticOptions, args))
    fit = summary["val_fit"] or summary["train_fit"]
    which = "held-out" if summary["val_fit"] else "training"
    overall = fit["all"]
    if "auroc" in overall:
        by_depth = " ".join(f"{d['auroc']:.3f}" for d in fit["by_depth"].values())
        quality = (
            f"AUROC {overall['auroc']:.3f} (by depth 1..H: {by_depth}) at {overall['hits']} hits"
        )
    else:
        quality = f"R^2 {overall['r2']:.3f}, Pearson {overall['pearson']:.3f}"
    print(
        f"critic: {which} {quality} over {overall['frames']} imagined frames; "
        f"wrote {args.out}/critic.safetensors"
    )
    return 0


def _configure_fit_prior(parser: argparse.ArgumentParser) -> None:
    from lsswm.agents.policy_prior import PriorOptions

    default = PriorOptions(ckpt="", data="", out="")
    parser.add_argument("--ckpt", required=True, help="world model checkpoint (discrete actions)")
    parser.add_argument("--data", required=True, help="dataset whose actions are cloned")
    parser.add_argument("--val-data", default="", help="held-out dataset for the accuracy")
    parser.add_argument("--out", default="runs/prior", help="output folder")
    parser.add_argument("--device", default=default.device)
    for name in ("episodes", "epochs", "batch", "hidden", "seed"):
        parser.add_argument(f"--{name}", type=int, default=getattr(default, name))
    parser.add_argument("--lr", type=float, default=default.lr)
    parser.add_argument("--no-progress", action="store_true")


def _run_fit_prior(args: argparse.Namespace) -> int:
    from lsswm.agents.policy_prior import PriorOptions, fit_policy_prior

    summary = fit_policy_prior(_options_from_args(PriorOptions, args))
    which = "held-out" if summary["val_accuracy"] is not None else "training"
    accuracy = summary["val_accuracy"] if which == "held-out" else summary["train_accuracy"]
    majority = summary["val_majority_accuracy"] or summary["train_majority_accuracy"]
    print(
        f"prior: {which} accuracy {accuracy:.3f} (always the most common action: "
        f"{majority:.3f}); wrote {args.out}/prior.safetensors"
    )
    return 0


def _configure_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ckpt", help="world model checkpoint; default: a random model shaped like `tiny`"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="P,H,I,D,R",
        help="population,horizon,iterations,denoising steps,replan every (repeatable); "
        "default: the old defaults, the docs' earlier setting, and the current defaults",
    )
    parser.add_argument("--steps", type=int, default=20, help="timed real steps per setting")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--out", default="runs/bench/planner", help="output folder")
    parser.add_argument(
        "--critic", default="", help="critic(s), comma-separated, as the planner's --critic"
    )
    parser.add_argument("--critic-weights", default="", help="as the planner's")
    parser.add_argument("--motion", default="", help="motion head, as the planner's --motion")


def _run_bench(args: argparse.Namespace) -> int:
    from lsswm.agents.bench_planner import default_settings, parse_setting, run_bench

    heads = {"critic": args.critic, "critic_weights": args.critic_weights, "motion": args.motion}
    settings = [parse_setting(text) for text in args.setting] or default_settings()
    run_bench(settings, args.ckpt, args.steps, args.warmup, args.out, heads=heads)
    return 0


def _configure_train(parser: argparse.ArgumentParser) -> None:
    from lsswm.agents.train_imagination import (
        ALGORITHMS,
        HORIZON_ENDS,
        OBSERVATIONS,
        SHAPING_POTENTIALS,
        ImaginationTrainingOptions,
    )

    default = ImaginationTrainingOptions(ckpt="", out="")
    parser.add_argument("--ckpt", required=True, help="world model checkpoint (.safetensors)")
    parser.add_argument(
        "--data",
        help="dataset to draw real starting contexts from; several, comma-separated, pool "
        "(each weighed by its windows), e.g. recorded data and the policy's own episodes",
    )
    parser.add_argument(
        "--start-near-reward",
        type=float,
        default=default.near_reward_fraction,
        metavar="FRACTION",
        help="share of the --data contexts that end 1..--near-reward-within frames before one "
        "of its rewards, so that many imagined episodes start near a target (default 0)",
    )
    parser.add_argument(
        "--near-reward-within",
        type=int,
        default=default.near_reward_within,
        metavar="N",
        help="with --start-near-reward: the most frames between a context's end and the reward",
    )
    parser.add_argument(
        "--env",
        help="real env id: for the evaluation (default: the dataset's env) and, without "
        "--data, to record starting contexts live",
    )
    parser.add_argument("--out", default="runs/imagination", help="output folder")
    parser.add_argument("--algo", choices=ALGORITHMS, default=default.algo)
    parser.add_argument(
        "--policy",
        default=default.policy,
        help="SB3 policy class, auto (NatureCNN for frames >= 36 px, else an MLP), or "
        "small-cnn (a CNN for smaller frames: agents/small_cnn.py)",
    )
    parser.add_argument("--timesteps", type=int, default=default.timesteps)
    parser.add_argument("--num-envs", type=int, default=default.num_envs)
    parser.add_argument(
        "--horizon", type=int, default=default.horizon, help="imagined steps per episode"
    )
    parser.add_argument(
        "--horizon-ends",
        choices=HORIZON_ENDS,
        default=default.horizon_ends,
        help="at the horizon an imagined episode is cut off (PPO bootstraps its own value) or "
        "ends as terminal; with --shaping the return is then the imagined rewards plus the "
        "critic's value of the last frame, as the planner's",
    )
    parser.add_argument("--context-length", type=int, default=default.context_length)
    parser.add_argument("--denoising-steps", type=int, default=default.denoising_steps)
    parser.add_argument(
        "--termination-threshold", type=float, default=default.termination_threshold
    )
    parser.add_argument(
        "--motion",
        default=default.motion,
        help="motion head (lsswm agents fit-critic --targets motion): its predicted movement "
        "is added to the imagined reward, an exploration drive",
    )
    parser.add_argument("--motion-weight", type=float, default=default.motion_weight)
    parser.add_argument(
        "--reward-weight",
        type=float,
        default=default.reward_weight,
        help="weight of the predicted reward; with a target value critic weighed W in "
        "--shaping, W keeps taking a target worth more than standing beside it",
    )
    parser.add_argument(
        "--reward-head",
        default=default.reward_head,
        help="a reward head (lsswm agents fit-critic --targets reward): its expected reward "
        "of each imagined frame replaces the world model's own predicted reward",
    )
    parser.add_argument(
        "--observe",
        choices=OBSERVATIONS,
        default=default.observation,
        help="what the policy reads: the imagined frames (pixels, as the real env shows "
        "them), or the model's features of each frame (in the real env the agent keeps a "
        "stream of the same model; evaluate it with --ckpt that model)",
    )
    parser.add_argument(
        "--frame-stack",
        type=int,
        default=default.frame_stack,
        metavar="K",
        help="with --observe frames: the policy sees the last K frames stacked on the channel "
        "axis, so it can tell moving from standing (in the real env too)",
    )
    parser.add_argument(
        "--shaping",
        default=default.shaping,
        help="critics (lsswm agents fit-critic, comma-separated), e.g. the target value: "
        "potential-based reward shaping with their weighted values P (each step adds "
        "gamma * P(next) - P(now)), which pays for moving toward what they value and leaves "
        "the best policy unchanged",
    )
    parser.add_argument(
        "--shaping-weight",
        default=default.shaping_weight,
        help="comma-separated weights of the --shaping critics, one per critic (default: 1 each)",
    )
    parser.add_argument(
        "--shaping-potential",
        choices=SHAPING_POTENTIALS,
        default=default.shaping_potential,
        help="the potential: the critic's value V, or 'steps', minus the steps to go that "
        "V = discount ** steps stands for (each step closer pays --shaping-weight, also far "
        "from the target, where V is nearly flat)",
    )
    parser.add_argument(
        "--shaping-max-steps",
        type=float,
        default=default.shaping_max_steps,
        help="with --shaping-potential steps: values below discount ** N count as N steps away",
    )
    parser.add_argument("--n-steps", type=int, default=default.n_steps, help="rollout per env")
    parser.add_argument("--batch-size", type=int, default=default.batch_size)
    parser.add_argument("--n-epochs", type=int, default=default.n_epochs)
    parser.add_argument("--learning-rate", type=float, default=default.learning_rate)
    parser.add_argument("--gamma", type=float, default=default.gamma)
    parser.add_argument(
        "--ent-coef",
        type=float,
        default=default.ent_coef,
        help="entropy bonus; without one PPO can settle on a single action",
    )
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--eval-episodes", type=int, default=default.eval_episodes)
    parser.add_argument("--eval-max-steps", type=int, default=default.eval_max_steps)
    parser.add_argument(
        "--eval-seed-base",
        type=int,
        default=default.eval_seed_base,
        help="real-env episodes use seeds SEED_BASE+i (keep them out of the training data)",
    )
    parser.add_argument("--no-eval-random", action="store_true", help="skip the random baseline")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu or cuda[:N] (default auto)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_train(args: argparse.Namespace) -> int:
    from lsswm.agents.train_imagination import ImaginationTrainingOptions, train_in_imagination

    summary = train_in_imagination(
        ImaginationTrainingOptions(
            ckpt=args.ckpt,
            out=args.out,
            data=args.data,
            near_reward_fraction=args.start_near_reward,
            near_reward_within=args.near_reward_within,
            env_id=args.env,
            algo=args.algo,
            policy=args.policy,
            timesteps=args.timesteps,
            num_envs=args.num_envs,
            horizon=args.horizon,
            horizon_ends=args.horizon_ends,
            context_length=args.context_length,
            denoising_steps=args.denoising_steps,
            termination_threshold=args.termination_threshold,
            motion=args.motion or "",
            motion_weight=args.motion_weight,
            reward_weight=args.reward_weight,
            reward_head=args.reward_head or "",
            observation=args.observe,
            frame_stack=args.frame_stack,
            shaping=args.shaping or "",
            shaping_weight=args.shaping_weight,
            shaping_potential=args.shaping_potential,
            shaping_max_steps=args.shaping_max_steps,
            n_steps=args.n_steps,
            batch_size=args.batch_size,
            n_epochs=args.n_epochs,
            learning_rate=args.learning_rate,
            gamma=args.gamma,
            ent_coef=args.ent_coef,
            seed=args.seed,
            eval_episodes=args.eval_episodes,
            eval_max_steps=args.eval_max_steps,
            eval_seed_base=args.eval_seed_base,
            eval_random=not args.no_eval_random,
            device=args.device,
            progress=not args.no_progress,
        )
    )
    print(f"policy: {summary['policy']}")
    return 0


def _configure_play(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Open a local web app (Gradio, `pip install 'lsswm[play]'`): the real Memory Maze and "
        "the world model's imagination side by side from the same start frames; keys or "
        "buttons choose the action, 'turn around' spins a full turn, 'record' saves an mp4. "
        "See docs/agents.md."
    )
    parser.add_argument("--ckpt", required=True, help="world model checkpoint with tokenizer")
    parser.add_argument("--env", default="lsswm/MemoryMaze-9x9-v0", help="Memory Maze env id")
    parser.add_argument("--seed", type=int, default=0, help="maze seed at start (default 0)")
    parser.add_argument("--context", type=int, default=4, help="real frames observed first")
    parser.add_argument("--denoising-steps", type=int, help="sampler steps (default: model's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, help="port (default: Gradio's, 7860 or next free)")
    parser.add_argument("--record-dir", default="runs/play", help="where 'record' writes mp4s")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")


def _run_play(args: argparse.Namespace) -> int:
    from lsswm.agents.play import run_play

    run_play(
        args.ckpt,
        env_id=args.env,
        seed=args.seed,
        context=args.context,
        denoising_steps=args.denoising_steps,
        device=args.device,
        host=args.host,
        port=args.port,
        record_dir=args.record_dir,
        open_browser=not args.no_browser,
    )
    return 0
