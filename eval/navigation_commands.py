"""CLI: ``lsswm eval navigation`` (agents in the real Memory Maze / Crafter),
``lsswm eval reward`` (the world model's reward prediction at real target hits) and
``lsswm eval plan-video`` (the planner's imagined plans beside the real view).

Cheap to import: torch, the envs and SB3 are imported when the command runs.
"""

from __future__ import annotations

import argparse

from lsswm.agents.planner_config import add_planner_arguments, planner_config_from_args
from lsswm.cli.registry import CommandRegistry


def register(registry: CommandRegistry) -> None:
    registry.describe_group("eval", "evaluation suites")
    registry.add(
        "navigation",
        "agents (random, oracle, planner, sb3:PATH) in the real env: targets reached / "
        "achievements per episode vs the Memory Maze paper's references",
        _configure,
        _run,
        group="eval",
    )
    registry.add(
        "plan-video",
        "one real episode of the planner as a video: the real view beside its best imagined "
        "plan, with the predicted reward of every imagined step",
        _configure_plan_video,
        _run_plan_video,
        group="eval",
    )
    registry.add(
        "reward",
        "reward prediction at real target hits on held-out episodes: AUROC, precision, "
        "recall, observed and 1..H steps ahead in imagination",
        _configure_reward,
        _run_reward,
        group="eval",
    )


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        nargs="+",
        required=True,
        help="agents: random, oracle, planner, sb3:PATH.zip, or any collect policy name "
        "(several: --agent random oracle planner, or random,oracle,planner)",
    )
    parser.add_argument("--env", default="lsswm/MemoryMaze-9x9-v0", help="environment id")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument(
        "--max-steps", type=int, default=1000, help="episode length (the env's own limit too)"
    )
    parser.add_argument(
        "--seed-base",
        type=int,
        default=1_000_000_000,
        help="episode i uses seed SEED_BASE+i; keep it outside the training data's seeds",
    )
    parser.add_argument("--ckpt", help="world model checkpoint (or run folder) for the planner")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu or cuda[:N] (default auto)",
    )
    parser.add_argument("--out", default="runs/navigation", help="output folder")
    parser.add_argument("--no-video", action="store_true", help="skip the episode videos")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_planner_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    from lsswm.eval.navigation import NavigationOptions, run_navigation
    from lsswm.worldmodel.checkpoint import resolve_device

    agents = _split_agents(args.agent)
    run_navigation(
        NavigationOptions(
            agents=agents,
            env_id=args.env,
            episodes=args.episodes,
            max_steps=args.max_steps,
            seed_base=args.seed_base,
            out=args.out,
            ckpt=args.ckpt,
            planner=planner_config_from_args(args),
            device=str(resolve_device(args.device)),
            video=not args.no_video,
            progress=not args.no_progress,
        )
    )
    return 0


def _split_agents(values: list[str]) -> list[str]:
    """``random,oracle`` is two agents; a name with options (``random:stickiness=0,...``) or
    a path (``sb3:a,b.zip``) is kept whole, because collect's option syntax uses commas."""
    agents = []
    for value in values:
        parts = [value] if ":" in value else value.split(",")
        agents += [part.strip() for part in parts if part.strip()]
    return agents


def _configure_reward(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="world model checkpoint (or run folder)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="DIR", help="held-out episodes of a dataset on disk")
    source.add_argument(
        "--env",
        default="lsswm/MemoryMaze-9x9-v0",
        help="record held-out episodes of this env now (default; see --policy, --seed-base)",
    )
    parser.add_argument("--policy", default="oracle-mix", help="policy recording --env episodes")
    parser.add_argument("--episodes", type=int, default=4, help="episodes (default 4)")
    parser.add_argument("--max-steps", type=int, default=500, help="steps of --env episodes")
    parser.add_argument("--seed-base", type=int, default=2_000_000_000, help="--env seeds")
    parser.add_argument("--horizon", type=int, default=8, help="open-loop steps ahead (8)")
    parser.add_argument(
        "--min-context", type=int, default=10, help="real frames before the first start (10)"
    )
    parser.add_argument("--stride", type=int, default=1, help="every k-th start (1: all)")
    parser.add_argument("--denoising-steps", type=int, default=3, help="sampler steps (3)")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="precision/recall threshold (0.5)"
    )
    parser.add_argument(
        "--reward-head",
        default="",
        help="score with a reward head fitted to imagined frames (lsswm agents fit-critic "
        "--targets reward) instead of the world model's own reward head",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]"
    )
    parser.add_argument("--seed", type=int, default=0, help="sampler noise seed")
    parser.add_argument("--out", default="runs/eval/reward", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")


def _run_reward(args: argparse.Namespace) -> int:
    from lsswm.eval.reward import RewardOptions, run_reward_eval
    from lsswm.worldmodel.checkpoint import resolve_checkpoint_path, resolve_device

    run_reward_eval(
        RewardOptions(
            ckpt=str(resolve_checkpoint_path(args.ckpt)),
            out=args.out,
            data=args.data,
            env_id=args.env,
            policy=args.policy,
            episodes=args.episodes,
            max_steps=args.max_steps,
            seed_base=args.seed_base,
            horizon=args.horizon,
            min_context=args.min_context,
            stride=args.stride,
            denoising_steps=args.denoising_steps,
            threshold=args.threshold,
            device=str(resolve_device(args.device)),
            seed=args.seed,
            progress=not args.no_progress,
            reward_head=args.reward_head,
        )
    )
    return 0


def _configure_plan_video(parser: argparse.ArgumentParser) -> None:
    from lsswm.agents.planner_config import add_planner_arguments
    from lsswm.eval.plan_video import PlanVideoOptions

    default = PlanVideoOptions(ckpt="", out="")
    parser.add_argument("--ckpt", required=True, help="world model checkpoint (or run folder)")
    parser.add_argument("--env", default=default.env_id, help="environment id")
    parser.add_argument("--seed", type=int, default=default.seed, help="env seed (held out)")
    parser.add_argument("--steps", type=int, default=default.steps, help="real steps")
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]"
    )
    parser.add_argument("--fps", type=int, default=default.fps)
    parser.add_argument("--out", default="runs/plan-video", help="output folder")
    add_planner_arguments(parser)


def _run_plan_video(args: argparse.Namespace) -> int:
    from lsswm.agents.planner_config import planner_config_from_args
    from lsswm.eval.plan_video import PlanVideoOptions, record_plan_video
    from lsswm.worldmodel.checkpoint import resolve_device

    options = PlanVideoOptions(
        ckpt=args.ckpt,
        out=args.out,
        env_id=args.env,
        seed=args.seed,
        steps=args.steps,
        device=str(resolve_device(args.device)),
        fps=args.fps,
    )
    summary = record_plan_video(options, planner_config_from_args(args))
    print(f"{summary['steps']} steps, {summary['targets']:g} targets -> {summary['video']}")
    return 0
