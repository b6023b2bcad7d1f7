"""CLI: `lsswm train`, `lsswm train-tokenizer` and `lsswm bench train` (training tokens/s).

Cheap to import (no torch): handlers import the trainers when they run. Configuration is
layered: preset (or --config FILE) -> the flat flags (--data, --variant, ...) -> every
`--set section.field=value` in order (docs/training.md).

Outside the `lsswm` dispatcher the same commands run as
`python -m lsswm.worldmodel.train.commands train ...`, e.g. under torchrun:

    torchrun --standalone --nproc_per_node 2 -m lsswm.worldmodel.train.commands train ...
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lsswm.worldmodel.config import VARIANTS  # no torch import: keeps `lsswm --help` fast

# (flag, config key) pairs shared by both trainers.
_COMMON_FLAGS = (("data", "data.path"), ("run_dir", "run_dir"), ("seed", "seed"))


def _add_common(parser: argparse.ArgumentParser, presets: str) -> None:
    # Preset names are checked when the config is built (train.config imports torch, and
    # building the parser must stay cheap).
    parser.add_argument("--data", metavar="DIR", help="dataset folder (lsswm collect output)")
    parser.add_argument(
        "--preset", default="tiny", metavar="NAME", help=f"named configuration: {presets}"
    )
    parser.add_argument(
        "--config", metavar="JSON", help="start from a config file (e.g. a run's config.json)"
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="where checkpoints/logs go; re-run to resume"
    )
    parser.add_argument("--seed", type=int, help="seed of init, data order and noise")
    add_set_option(parser, "override any config field, e.g. --set optim.lr=3e-4 model.d_model=256")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (log.progress=false)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the configuration and exit"
    )


def configure_train(parser: argparse.ArgumentParser) -> None:
    from lsswm.worldmodel.config import VARIANTS  # torch-free

    _add_common(parser, "tiny (CPU), small (1 GPU), paper (200M), memory (experiment)")
    parser.add_argument("--variant", choices=VARIANTS, help="world model variant (model.variant)")
    parser.add_argument(
        "--tokenizer", metavar="PATH", help="tokenizer checkpoint (default: patchify)"
    )
    parser.add_argument("--init", metavar="PATH", help="world model checkpoint to start from")


def configure_train_tokenizer(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, "tiny (32x32), small, paper")


def add_set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--set KEY=VALUE ...`: training-config overrides, read back by config_overrides()."""
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="extend",
        nargs="+",
        default=[],
        help=help_text,
    )


def config_overrides(
    args: argparse.Namespace, pairs: tuple[tuple[str, str], ...] = ()
) -> list[str]:
    """The overrides a command line makes, in the order they apply: the flags given among
    ``pairs`` (attribute, config key), log.progress=false for --no-progress, then every --set
    (so an explicit --set wins)."""
    found = []
    for attribute, key in pairs:
        value = getattr(args, attribute, None)
        if value is not None:
            found.append(f"{key}={value}")
    if getattr(args, "no_progress", False):
        found.append("log.progress=false")
    return found + list(args.overrides)


def build_train_config(args: argparse.Namespace) -> Any:
    from lsswm.worldmodel.train.config import (
        TrainConfig,
        apply_overrides,
        load_config_file,
        train_preset,
    )

    config = (
        load_config_file(TrainConfig, args.config) if args.config else train_preset(args.preset)
    )
    pairs = (
        *_COMMON_FLAGS,
        ("variant", "model.variant"),
        ("tokenizer", "tokenizer.path"),
        ("init", "init"),
    )
    config = apply_overrides(config, config_overrides(args, pairs))
    if not config.run_dir:
        config = apply_overrides(config, [f"run_dir=runs/{config.preset}-{config.model.variant}"])
    return config


def build_tokenizer_config(args: argparse.Namespace) -> Any:
    from lsswm.worldmodel.train.config import (
        TokenizerTrainConfig,
        apply_overrides,
        load_config_file,
        tokenizer_preset,
    )

    if args.config:
        config = load_config_file(TokenizerTrainConfig, args.config)
    else:
        config = tokenizer_preset(args.preset)
    config = apply_overrides(config, config_overrides(args, _COMMON_FLAGS))
    if not config.run_dir:
        config = apply_overrides(config, [f"run_dir=runs/tokenizer-{config.preset}"])
    return config


# Documented rates of whole training steps (data, forward, backward, EMA, checkpoints) per
# window-frame of a step (frames x batch), for a preset's own model and frame size:
# - cpu, tiny: 0.4 s per 64-frame step on the 2-core CPU (docs/agents.md: 1500 steps of
#   curriculum 16:1200:4,32:300:2 in about 10 minutes);
# - cpu, memory: 1.09 s per 320-frame step (docs/training.md, the memory experiment);
# - cuda, small: 4,431 frames/s eager with bf16 autocast on one H200 (docs/results/gpu-check-h200;
#   compiled: 8,912).
TRAIN_SECONDS_PER_FRAME = {
    ("cpu", "tiny"): 0.4 / 64,
    ("cpu", "memory"): 1.09 / 320,
    ("cuda", "small"): 1 / 4431,
}


def announce_train_estimate(config: Any) -> None:
    """Print how long the rest of this run's curriculum should take (stderr, rank 0 only)."""
    import contextlib
    import os

    from lsswm.cli.estimate import Part, print_estimate, print_no_estimate
    from lsswm.worldmodel.checkpoint import latest_step, resolve_device
    from lsswm.worldmodel.train.config import train_preset

    if int(os.environ.get("RANK", "0")) != 0:
        return
    done = 0
    # A damaged run folder (CheckpointError is a ValueError): the trainer names the problem.
    with contextlib.suppress(OSError, ValueError):
        done = latest_step(config.run_dir)
    remaining, frames, start = 0, 0, 0
    for stage in config.curriculum:
        left = max(0, min(stage.steps, start + stage.steps - done))
        remaining += left
        frames += left * stage.frames * stage.batch_size
        start += stage.steps
    if remaining == 0:
        return
    try:
        device = resolve_device(config.system.device).type
    except Exception:  # no such device: the trainer reports it
        return
    rate = None
    try:
        preset = train_preset(config.preset)
    except Exception:  # a --config file may name any preset
        preset = None
    same_model = preset is not None and (
        config.model.d_model == preset.model.d_model
        and config.model.n_layers == preset.model.n_layers
        and config.data.image_size == preset.data.image_size
        and config.tokenizer == preset.tokenizer
    )
    if same_model:
        rate = TRAIN_SECONDS_PER_FRAME.get((device, config.preset))
    quick = "--preset tiny --set curriculum=16:40:4" if config.preset != "tiny" else None
    label = "train"
    if rate is None:
        print_no_estimate(
            remaining,
            "training steps",
            f"no documented rate for this model and frame size on {device}",
            quick=quick,
            label=label,
        )
        return
    per_step = rate * frames / remaining
    print_estimate(
        [Part(remaining, "training steps", per_step)],
        overhead_s=10,
        quick=quick or "--set curriculum=16:40:4",
        label=label,
        machine="on one GPU" if device == "cuda" else None,
    )


def run_train(args: argparse.Namespace) -> int:
    from lsswm.worldmodel.train.loop import train

    config = build_train_config(args)
    if args.print_config:
        from lsswm.worldmodel.train.config import DERIVED_MODEL_FIELDS, validate_train_config
        from lsswm.worldmodel.train.loop import resolve_derived_fields

        validate_train_config(config)
        config, unresolved = resolve_derived_fields(config)
        if unresolved:
            fields = ", ".join(f"model.{name}" for name in DERIVED_MODEL_FIELDS)
            print(
                f"note: {fields} are placeholders here: {unresolved}, so the latent grid and "
                "the action space are not known yet; the trainer derives them from the "
                "tokenizer and the dataset (pass --data to see them)",
                file=sys.stderr,
            )
    elif config.run_dir:
        announce_train_estimate(config)
    return _run_training(config, args.print_config, train)


def run_train_tokenizer(args: argparse.Namespace) -> int:
    from lsswm.worldmodel.train.tokenizer import train_tokenizer

    return _run_training(build_tokenizer_config(args), args.print_config, train_tokenizer)


def _run_training(config: Any, print_only: bool, train_fn: Any) -> int:
    """Print the resolved config, or train; exit 130 when the run was interrupted."""
    from lsswm.worldmodel.train.config import config_to_json

    if print_only:
        print(config_to_json(config))
        return 0
    return 130 if train_fn(config).interrupted else 0


def _configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default="pretrained/maze9/hybrid-pose.safetensors",
        help="saved world model whose config sizes the models (default: the shipped Memory "
        "Maze hybrid, the memory experiment's size)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["hybrid", "causal-window", "causal"],
        choices=VARIANTS,
        help="variants, each resized to the checkpoint model's parameter count",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["eager", "compile"],
        choices=("eager", "compile"),
        help="eager PyTorch and/or torch.compile (Inductor) of the trainer's loss module",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="clips per step (default 8)")
    parser.add_argument("--frames", type=int, default=64, help="frames per clip (default 64)")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per mode (median)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default="runs/bench/train.json", help="JSON report path")


def _run_train(args: argparse.Namespace) -> int:
    import torch

    from lsswm.worldmodel.bench import write_report
    from lsswm.worldmodel.train.bench import (
        TrainBenchOptions,
        format_train_table,
        run_train_benchmark,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    options = TrainBenchOptions(
        checkpoint=args.checkpoint,
        variants=tuple(args.variants),
        modes=tuple(args.modes),
        batch_size=args.batch_size,
        frames=args.frames,
        repeats=args.repeats,
        device=args.device,
    )
    report = run_train_benchmark(options)
    print(format_train_table(report))
    print(f"wrote {write_report(report, args.out)}")
    return 0


COMMANDS = (
    (
        "train",
        "train a world model (presets, resume, DDP via torchrun)",
        configure_train,
        run_train,
    ),
    (
        "train-tokenizer",
        "train the frame tokenizer (autoencoder)",
        configure_train_tokenizer,
        run_train_tokenizer,
    ),
)


def register(registry: Any) -> None:
    for name, help_text, configure, run in COMMANDS:
        registry.add(name, help_text, configure, run)
    registry.add(
        "train",
        "training tokens/s per variant, eager against torch.compile",
        _configure_train,
        _run_train,
        group="bench",
    )


def main(argv: list[str] | None = None) -> int:
    """The trainer's commands without the `lsswm` dispatcher (e.g. for torchrun -m)."""
    parser = argparse.ArgumentParser(prog="python -m lsswm.worldmodel.train.commands")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, configure, run in COMMANDS:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(_handler=run)
    args = parser.parse_args(argv)
    try:
        return int(args._handler(args) or 0)
    except Exception as error:
        if not getattr(error, "user_facing", False):
            raise
        print(f"lsswm: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
