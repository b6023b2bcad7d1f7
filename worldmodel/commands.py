"""`lsswm bench stream`: streaming-generation cost against context length, per variant.

Cheap to import: torch and the model load only when the command runs.
"""

from __future__ import annotations

import argparse

from lsswm.cli.registry import CommandRegistry
from lsswm.worldmodel.config import VARIANTS  # no torch import: keeps `lsswm --help` fast


def _configure_stream(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=VARIANTS,
        help="variants to compare (default: all five, resized to the hybrid's parameter count)",
    )
    parser.add_argument(
        "--contexts",
        nargs="+",
        type=int,
        default=[16, 64, 256, 1024],
        help="context lengths in frames (default: 16 64 256 1024)",
    )
    parser.add_argument("--long", action="store_true", help="also measure a 4096-frame context")
    parser.add_argument(
        "--size",
        choices=("tiny", "small"),
        default="tiny",
        help="tiny: CPU-sized model; small: one-GPU model",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu or cuda[:N] (default auto)",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="parallel streams")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median)")
    parser.add_argument("--denoising-steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time shown in the table: wall (elapsed) or cpu (process CPU time, robust on a "
        "shared machine); the JSON has both",
    )
    parser.add_argument("--out", default="runs/bench/stream.json", help="JSON report path")


def _run_stream(args: argparse.Namespace) -> int:
    import torch

    from lsswm.worldmodel.bench import format_table, run_stream_benchmark, write_report
    from lsswm.worldmodel.checkpoint import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    contexts = sorted(set(args.contexts + ([4096] if args.long else [])))
    report = run_stream_benchmark(
        variants=args.variants,
        contexts=contexts,
        size=args.size,
        device=str(resolve_device(args.device)),
        batch_size=args.batch_size,
        repeats=args.repeats,
        denoising_steps=args.denoising_steps,
    )
    print(format_table(report, args.clock))
    print(f"wrote {write_report(report, args.out)}")
    return 0


def register(registry: CommandRegistry) -> None:
    registry.describe_group("bench", "speed and memory benchmarks")
    registry.add(
        "stream",
        "per-frame streaming generation time and state bytes against context length",
        _configure_stream,
        _run_stream,
        group="bench",
    )
