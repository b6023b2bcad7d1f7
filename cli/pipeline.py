"""`lsswm demo`: the end-to-end pipeline on an embedded default small enough for a laptop CPU.

Each stage is an ordinary `lsswm` subcommand, run in order, so the demo shows exactly the
commands a user would type (they are printed as they run):

1. collect Memory Maze 9x9 episodes with the `explore` policy (2 workers), verify them, and
   write a video and a revisit-distance histogram;
2. train a tiny `hybrid` world model on them (a few dozen steps: it shows the machinery, not
   a good model);
3. evaluate recall with the shipped models (``pretrained/maze9``: the hybrid beside the
   causal-window model of the same size, trained by `lsswm experiment memory`) on held-out
   real episodes, in the paper's retrieval protocol: the camera retraces its path backwards,
   so later generated frames show views last seen beyond the attention window; without the
   shipped files (a checkout without them), the tiny model is evaluated instead;
4. run the navigation suite: random, oracle and the planning agent inside the shipped
   discrete-action hybrid with its fitted heads (``pretrained/maze9/hybrid.safetensors``,
   ``hybrid-motion.safetensors``, ``hybrid-motion-value.safetensors``,
   ``hybrid-target.safetensors``), at the settings of docs/agents.md's navigation results;
   without them, inside the tiny model;
5. gather everything into one report.

Re-running resumes: collection and training pick up what is on disk.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from lsswm.cli.registry import CommandRegistry

ENV_ID = "lsswm/MemoryMaze-9x9-v0"
PRETRAINED = "pretrained/maze9"
PRETRAINED_MODELS = ("hybrid-pose.safetensors", "causal-window-pose.safetensors")
# The planner's model, then its motion head, motion value and target value (docs/agents.md).
PRETRAINED_PLANNER = (
    "hybrid.safetensors",
    "hybrid-motion.safetensors",
    "hybrid-motion-value.safetensors",
    "hybrid-target.safetensors",
)
TARGET_VALUE_WEIGHT = 4  # of the target value against the motion value, as measured


def recall_stage(args: argparse.Namespace, run: str, out: str) -> str:
    """The recall command: the shipped hybrid beside the shipped causal-window model when
    they are present, else the tiny model just trained."""
    pretrained = Path(getattr(args, "pretrained", PRETRAINED))
    shipped = [pretrained / name for name in PRETRAINED_MODELS]
    if all(path.is_file() for path in shipped):
        checkpoints = " ".join(shlex.quote(str(path)) for path in shipped)
        return (
            f"eval recall --ckpt {checkpoints} --env {ENV_ID} --protocol retrieval "
            f"--context 44 --generate 20 --episodes 4 --videos 1 --out {out}"
        )
    print(f"[demo] no shipped checkpoints in {pretrained}/: recall uses the tiny model")
    return (
        f"eval recall --ckpt {run} --env {ENV_ID} --protocol reasoning --context 20 "
        f"--generate 10 --episodes 2 --videos 1 --denoising-steps 4 --out {out}"
    )


def navigation_stage(args: argparse.Namespace, run: str, out: str) -> str:
    """The navigation command: the planner inside the shipped discrete-action hybrid with its
    heads when they are present, else inside the tiny model just trained."""
    pretrained = Path(getattr(args, "pretrained", PRETRAINED))
    model, motion, motion_value, target = (pretrained / name for name in PRETRAINED_PLANNER)
    common = f"eval navigation --agent random oracle planner --env {ENV_ID} --episodes 1"
    if all(path.is_file() for path in (model, motion, motion_value, target)):
        critics = shlex.quote(f"{motion_value},{target}")
        return (
            f"{common} --max-steps 60 --ckpt {shlex.quote(str(model))} "
            f"--motion {shlex.quote(str(motion))} --critic {critics} "
            f"--critic-weights 1,{TARGET_VALUE_WEIGHT} --out {out}"
        )
    print(f"[demo] no shipped planner model in {pretrained}/: the planner uses the tiny model")
    return (
        f"{common} --max-steps 30 --ckpt {run} --population 8 --horizon 3 --iterations 1 "
        f"--elites 2 --denoising-steps 2 --replan-every 3 --out {out}"
    )


def register(registry: CommandRegistry) -> None:
    registry.add(
        "demo",
        "run the end-to-end pipeline (collect, train, eval, plan, report) on a tiny default",
        _configure,
        _run,
    )


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--episodes", type=int, default=4, help="training episodes to collect")
    parser.add_argument("--steps", type=int, default=200, help="env steps per episode")
    parser.add_argument("--workers", type=int, default=2, help="collection worker processes")
    parser.add_argument("--train-steps", type=int, default=40, help="world model training steps")
    parser.add_argument(
        "--pretrained",
        default=PRETRAINED,
        help="folder of shipped checkpoints: hybrid-pose.safetensors and "
        "causal-window-pose.safetensors for the recall stage, hybrid.safetensors and its "
        "-motion, -motion-value and -target heads for the planner; the tiny model is used "
        "where they are missing",
    )
    parser.add_argument(
        "--stop-after",
        choices=("collect", "train", "eval", "navigation"),
        help="stop after this stage",
    )


def demo_stages(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """The pipeline as (stage, argv) pairs: every stage is a plain `lsswm` command."""
    out = Path(args.out)
    data, run = shlex.quote(str(out / "data")), shlex.quote(str(out / "hybrid"))
    eval_recall = shlex.quote(str(out / "eval-recall"))
    eval_navigation = shlex.quote(str(out / "eval-navigation"))
    stages = [
        (
            "collect",
            f"collect --env {ENV_ID} --policy explore --episodes {args.episodes} "
            f"--steps {args.steps} --workers {args.workers} --out {data}",
        ),
        ("collect", f"data verify {data}"),
        ("collect", f"data info {data}"),
        ("collect", f"data video {data} --out {shlex.quote(str(out / 'episodes.mp4'))}"),
        ("collect", f"data revisits {data} --out {shlex.quote(str(out / 'revisits.png'))}"),
        (
            "train",
            f"train --data {data} --preset tiny --variant hybrid --run-dir {run} "
            f"--set curriculum=16:{args.train_steps}:4 log.checkpoint_every=20",
        ),
        ("eval", recall_stage(args, run, eval_recall)),
        ("navigation", navigation_stage(args, run, eval_navigation)),
        (
            "report",
            f"report {eval_recall} {eval_navigation} --out {shlex.quote(str(out / 'report.md'))}",
        ),
    ]
    return [(stage, shlex.split(command)) for stage, command in stages]


def _run(args: argparse.Namespace) -> int:
    from lsswm.cli.main import main

    started = time.perf_counter()
    order = ["collect", "train", "eval", "navigation", "report"]
    last = order.index(args.stop_after) if args.stop_after else len(order) - 1
    for stage, argv in demo_stages(args):
        if order.index(stage) > last:
            break
        print(f"\n[demo:{stage}] lsswm {shlex.join(argv)}", flush=True)
        code = main(argv)
        if code:
            print(f"[demo] stage {stage!r} failed (exit {code}); fix it and re-run to resume")
            return code
    elapsed = time.perf_counter() - started
    print(f"\n[demo] done in {elapsed:.0f} s; outputs in {args.out}/ (report.md, episodes.mp4)")
    return 0
