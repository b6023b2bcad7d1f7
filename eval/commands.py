"""`lsswm eval recall`, `lsswm eval crafter-recall`, `lsswm bench scaling`, `lsswm report`.

Cheap to import (argparse only): the run functions import torch and the suites when called.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

DEFAULT_MAZE = "lsswm/MemoryMaze-9x9-v0"
DEFAULT_CRAFTER = "lsswm/Crafter-v0"
DEFAULT_EVAL_SEED_BASE = 1_000_000_000  # = episodes.DEFAULT_EVAL_SEED_BASE (kept import-free)
CRAFTER_DEFAULTS = (200, 100)  # context, generate


def register(registry: Any) -> None:
    """Add the eval commands to ``registry`` (an ``lsswm.cli.registry.CommandRegistry``; not
    imported: layers never import the cli package above them, tests/test_cli.py)."""
    registry.describe_group("eval", "evaluation suites")
    registry.describe_group("bench", "speed and memory benchmarks")
    registry.add(
        "recall",
        "spatial retrieval / reasoning recall of checkpoints (PSNR, SSIM, LPIPS vs distance)",
        configure_recall,
        run_recall,
        group="eval",
    )
    registry.add(
        "crafter-recall",
        "Crafter inventory recall: does generation keep the inventory of the context",
        configure_crafter_recall,
        run_crafter_recall,
        group="eval",
    )
    registry.add(
        "scaling",
        "per-frame generation latency / peak memory vs context, train step time vs length",
        configure_scaling,
        run_scaling,
        group="bench",
    )
    registry.add(
        "report",
        "gather results JSON of the suites into one Markdown page",
        configure_report,
        run_report,
    )


# ---- shared options ------------------------------------------------------------------------
def _generation_options(parser: argparse.ArgumentParser, env_default: str) -> None:
    parser.add_argument(
        "--ckpt",
        nargs="+",
        required=True,
        metavar="CKPT",
        help="checkpoints (.safetensors) or training run folders; several give one comparison",
    )
    parser.add_argument(
        "--tokenizer", help="tokenizer checkpoint, for world models saved without one"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--env",
        default=env_default,
        help=f"record evaluation episodes from this env on held-out seeds (default {env_default})",
    )
    source.add_argument(
        "--data",
        metavar="DIR",
        help="evaluate on the episodes of a dataset on disk instead (lsswm format, "
        "e.g. imported Memory Maze offline or TECO Minecraft data)",
    )
    parser.add_argument(
        "--context", type=int, help="observed frames before generation (default: the protocol's)"
    )
    parser.add_argument("--generate", type=int, help="frames to generate after the context")
    parser.add_argument("--episodes", type=int, default=8, help="evaluation episodes (default 8)")
    parser.add_argument(
        "--first-episode", type=int, default=0, help="with --data: first episode position used"
    )
    parser.add_argument(
        "--seed-base",
        type=int,
        default=DEFAULT_EVAL_SEED_BASE,
        help="episode i of the env uses seed S+i; keep it far from training seeds "
        f"(default {DEFAULT_EVAL_SEED_BASE})",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="episodes generated together")
    parser.add_argument(
        "--denoising-steps", type=int, help="sampler steps per frame (default: the model's)"
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling noise seed")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu or cuda[:N] (default auto)",
    )
    parser.add_argument("--videos", type=int, default=2, help="side-by-side videos to write")
    parser.add_argument("--video-format", choices=("mp4", "gif"), default="mp4")
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}


def _generation_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of the generation suites that come from _generation_options."""
    from lsswm.worldmodel.checkpoint import resolve_device

    return {
        "tokenizer": args.tokenizer,
        "device": str(resolve_device(args.device)),
        "batch_size": args.batch_size,
        "denoising_steps": args.denoising_steps,
        "seed": args.seed,
        "settings": _settings(args),
        "progress": not args.no_progress,
    }


# ---- lsswm eval recall ---------------------------------------------------------------------
def configure_recall(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate the frames after a context with each checkpoint and score them against "
        "the real frames. Protocols (Po et al. 2025, arXiv 2505.20171): retrieval = context path, then the exact "
        "return path (default 400 context / 400 generated); reasoning = the trajectory "
        "continues with its real actions (576 / 224); on non-Memory-Maze data 100 / 50. "
        "Writes recall_<protocol>.json, PNG plots of the metrics against revisit distance, "
        "and side-by-side videos into --out."
    )
    _generation_options(parser, DEFAULT_MAZE)
    parser.add_argument("--protocol", choices=("retrieval", "reasoning"), default="retrieval")
    parser.add_argument(
        "--retrieval-mode",
        choices=("auto", "reverse", "drive"),
        default="auto",
        help="reverse: the camera retraces the context backwards, ground truth the reversed "
        "context (the paper; needs pose-conditioned models); drive: the agent turns and drives "
        "the path back in the env (any model); auto: reverse when every checkpoint takes "
        "poses, else drive",
    )
    parser.add_argument(
        "--distance-edges",
        default="1,11,26,51,101,201,401,801,1601",
        help="revisit-distance bin edges in frames, bins [a, b) (default 1,11,26,...,1601)",
    )
    parser.add_argument(
        "--distance-reference",
        choices=("context", "all"),
        default="context",
        help="frames a revisit may refer to: the observed context (default) or every earlier "
        "frame, generated ones included",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=10,
        help="attention window in frames for the within/beyond split (default 10)",
    )
    parser.add_argument(
        "--lpips-weights",
        metavar="DIR",
        help="folder with alexnet-owt-7be5be79.pth and LPIPS's alex.pth (else torch hub cache)",
    )
    parser.add_argument("--fvd-i3d", metavar="PATH", help="i3d_torchscript.pt enables FVD")


def _parse_edges(text: str) -> tuple[float, ...]:
    from lsswm.eval.errors import EvalError

    try:
        edges = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise EvalError(f"--distance-edges {text!r} must be comma-separated numbers") from error
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)) or edges[0] < 1:
        raise EvalError(f"--distance-edges {text!r} must be increasing and start at >= 1")
    return edges


def _episode_options(args: argparse.Namespace) -> Any:
    from lsswm.eval.episodes import EpisodeOptions

    return EpisodeOptions(
        env_id=args.env,
        data=args.data,
        episodes=args.episodes,
        first=args.first_episode,
        seed_base=args.seed_base,
        context=args.context,
        generate=args.generate,
        retrieval_mode=getattr(args, "retrieval_mode", "auto"),
        progress=not args.no_progress,
    )


def run_recall(args: argparse.Namespace) -> int:
    from lsswm.eval.episodes import evaluation_episodes
    from lsswm.eval.recall import RecallOptions, default_lengths, print_tables, run_recall_suite

    generation = _generation_arguments(args)
    source = _episode_options(args)
    lengths = default_lengths(args.protocol, source.environment())
    episodes, spec = evaluation_episodes(source, args.protocol, args.ckpt, lengths)
    options = RecallOptions(
        edges=_parse_edges(args.distance_edges),
        window=args.window,
        distance_reference=args.distance_reference,
        videos=args.videos,
        video_format=args.video_format,
        lpips_weights=args.lpips_weights,
        fvd_i3d=args.fvd_i3d,
    )
    results = run_recall_suite(args.ckpt, episodes, spec, args.out, options=options, **generation)
    print_tables(results)
    print(f"wrote {args.out}/recall_{spec.protocol}.json")
    return 0


# ---- lsswm eval crafter-recall -------------------------------------------------------------
def configure_crafter_recall(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Crafter inventory recall: episodes of the crafter-gather policy (or --data), a "
        "context in which items are gathered, then generation; scores the inventory region "
        "of the generated frames and whether gathered items stay drawn. Default "
        f"{CRAFTER_DEFAULTS[0]} context / {CRAFTER_DEFAULTS[1]} generated frames."
    )
    _generation_options(parser, DEFAULT_CRAFTER)


def run_crafter_recall(args: argparse.Namespace) -> int:
    from lsswm.eval.crafter_recall import run_crafter_suite
    from lsswm.eval.episodes import evaluation_episodes
    from lsswm.eval.recall import print_tables

    generation = _generation_arguments(args)
    source = _episode_options(args)
    episodes, spec = evaluation_episodes(source, "crafter", args.ckpt, CRAFTER_DEFAULTS)
    results = run_crafter_suite(
        args.ckpt,
        episodes,
        spec,
        args.out,
        videos=args.videos,
        video_format=args.video_format,
        **generation,
    )
    print_tables(results)
    print(f"wrote {args.out}/crafter_recall.json")
    return 0


# ---- lsswm bench scaling -------------------------------------------------------------------
def configure_scaling(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The paper's cost figure with our code: for each variant (resized to the hybrid's "
        "parameter count) at one size, per-frame generation latency, carried state and peak "
        "memory after contexts of growing length, and one training step's time and peak "
        "memory against sequence length, side by side in one run. Writes scaling.json and "
        "scaling.png into --out and prints the tables. --size small --device cuda is the "
        "one-GPU measurement."
    )
    parser.add_argument(
        "--variants",
        default="hybrid,causal,causal-window,mamba2,mamba2-fla",
        help="comma-separated variants (default all five)",
    )
    parser.add_argument(
        "--size",
        choices=("tiny", "small"),
        default="tiny",
        help="tiny: CPU-sized; small: one-GPU size (run it on a GPU)",
    )
    parser.add_argument(
        "--contexts",
        default="64,128,256,512,1024",
        help="context lengths in frames for generation (default 64,...,1024; add 2048,4096 "
        "on a GPU)",
    )
    parser.add_argument(
        "--train-lengths",
        default="16,32,64,128",
        help="sequence lengths in frames for the training step (default 16,32,64,128)",
    )
    parser.add_argument(
        "--denoising-steps", type=int, default=2, help="sampler steps per generated frame"
    )
    parser.add_argument("--batch-size", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median kept)")
    parser.add_argument(
        "--same-width",
        action="store_true",
        help="keep every variant at the hybrid's width instead of equal parameter counts",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu or cuda[:N] (default auto)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_scaling(args: argparse.Namespace) -> int:
    from lsswm.eval.recall import print_tables
    from lsswm.eval.scaling import ScalingOptions, run_scaling_benchmark
    from lsswm.worldmodel.checkpoint import resolve_device

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    options = ScalingOptions.from_text(
        variants=args.variants,
        size=args.size,
        contexts=args.contexts,
        train_lengths=args.train_lengths,
        denoising_steps=args.denoising_steps,
        batch_size=args.batch_size,
        repeats=args.repeats,
        equal_params=not args.same_width,
    )
    results = run_scaling_benchmark(
        options, str(resolve_device(args.device)), args.out, progress=not args.no_progress
    )
    print_tables(results)
    print(f"wrote {args.out}/scaling.json")
    return 0


# ---- lsswm report --------------------------------------------------------------------------
def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Gather the results JSON of the suites (recall, crafter-recall, scaling, navigation "
        "and any file with a 'suite' field) from files or folders into one Markdown page "
        "with their tables, plots and videos."
    )
    parser.add_argument("inputs", nargs="+", metavar="RUN_OR_RESULTS", help="JSON files or folders")
    parser.add_argument("--out", default="report.md", help="Markdown file (default report.md)")
    parser.add_argument("--title", default="lsswm evaluation report")


def run_report(args: argparse.Namespace) -> int:
    from lsswm.eval.report import write_report

    path, count = write_report(args.inputs, args.out, title=args.title)
    print(f"wrote {path} ({count} result files)")
    return 0
