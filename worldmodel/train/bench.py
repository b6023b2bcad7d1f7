"""`lsswm bench train`: training throughput (tokens/s) per variant, eager against torch.compile.

The model is a saved model's config (by default the shipped Memory Maze hybrid), and each
other variant is resized to its parameter count (worldmodel.sizing). For each variant one
model and one AdamW optimizer are driven two ways: eagerly, and through ``torch.compile`` of
the same loss module the trainer compiles with ``system.compile=true`` (Inductor; on CPU it
generates C++). Each way first takes one untimed step (for the compiled one this is the
compilation, reported as ``first_step_s``); then their steps alternate, so a machine that gets
busier slows both alike and the ratio stays fair. A step is what the trainer does: the
diffusion-forcing loss on one batch, backward, gradient clipping and AdamW.

Random latents and actions: the cost of a step does not depend on what the model learned.
A token is one latent grid cell of one frame (what the scan and attention run over).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from lsswm.worldmodel.bench import BenchmarkError, markdown_table, random_actions, timed
from lsswm.worldmodel.config import VARIANTS, WorldModelConfig
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.sizing import count_parameters, equal_size_configs

MODES = ("eager", "compile")
DEFAULT_CHECKPOINT = "pretrained/maze9/hybrid-pose.safetensors"


@dataclass(frozen=True)
class TrainBenchOptions:
    checkpoint: str = DEFAULT_CHECKPOINT
    variants: tuple[str, ...] = ("hybrid", "causal-window", "causal")
    modes: tuple[str, ...] = MODES
    # The memory experiment's last curriculum stage: 8 clips of 64 frames.
    batch_size: int = 8
    frames: int = 64
    repeats: int = 10
    device: str = "cpu"

    def check(self) -> None:
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise BenchmarkError(f"--variants {unknown}: choose from {', '.join(VARIANTS)}")
        bad_modes = [m for m in self.modes if m not in MODES]
        if bad_modes or not self.modes:
            raise BenchmarkError(f"--modes {bad_modes}: choose from {', '.join(MODES)}")
        if min(self.batch_size, self.frames, self.repeats) < 1:
            raise BenchmarkError("--batch-size, --frames and --repeats must be >= 1")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise BenchmarkError("--device cuda given but CUDA is not available; use --device cpu")


def saved_model_config(path: str | Path) -> WorldModelConfig:
    """The world-model config stored in a checkpoint, without reading its weights."""
    from lsswm.worldmodel.checkpoint import CheckpointError, read_world_model_config

    try:
        return read_world_model_config(path)
    except CheckpointError as error:
        raise BenchmarkError(
            f"{error}. `lsswm bench train` sizes its models from a saved world model: pass "
            "--checkpoint with a .safetensors world model (the repository ships "
            f"{DEFAULT_CHECKPOINT}; run from the repository root)"
        ) from error


class TrainingStep:
    """One trainer step of `model` (loss, backward, clip, AdamW) through `loss_function`, the
    model's training loss eagerly or compiled."""

    def __init__(
        self, model: WorldModel, optimizer: torch.optim.Optimizer, loss_function: Callable
    ) -> None:
        self.model, self.optimizer, self.loss_function = model, optimizer, loss_function

    def __call__(self, batch: TrainingBatch, seed: int) -> float:
        generator = torch.Generator(device=batch.latents.device).manual_seed(seed)
        loss, _ = self.loss_function(
            batch.latents, batch.actions, batch.rewards, batch.terminated, generator
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        return float(loss.detach())


def training_steps(model: WorldModel, modes: tuple[str, ...]) -> dict[str, TrainingStep]:
    """One TrainingStep per mode, sharing the model and its optimizer."""
    from lsswm.worldmodel.train.loop import LossModule

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_module = LossModule(model)
    return {
        mode: TrainingStep(
            model, optimizer, torch.compile(loss_module) if mode == "compile" else loss_module
        )
        for mode in modes
    }


@dataclass
class TrainingBatch:
    latents: torch.Tensor  # (B, T, h, w, C)
    actions: torch.Tensor  # (B, T, action_size) float or (B, T) int64
    rewards: torch.Tensor  # (B, T)
    terminated: torch.Tensor  # (B, T) bool


def random_training_batch(
    config: WorldModelConfig, batch_size: int, frames: int, device: torch.device
) -> TrainingBatch:
    """Random latents and actions, with a reward on one frame in 50 and no terminations, so
    the step runs the reward and termination heads' losses as the trainer's does."""
    generator = torch.Generator().manual_seed(0)
    grid = (config.latent_height, config.latent_width, config.latent_channels)
    latents = torch.randn(batch_size, frames, *grid, generator=generator)
    rewards = (torch.rand(batch_size, frames, generator=generator) < 0.02).float()
    return TrainingBatch(
        latents=latents.to(device),
        actions=random_actions(config, batch_size, frames, device),
        rewards=rewards.to(device),
        terminated=torch.zeros(batch_size, frames, dtype=torch.bool, device=device),
    )


def tokens_per_step(config: WorldModelConfig, options: TrainBenchOptions) -> int:
    """Latent grid cells of every frame of one batch."""
    return options.batch_size * options.frames * config.latent_height * config.latent_width


def measure_training_modes(
    config: WorldModelConfig, options: TrainBenchOptions, progress: Any = None
) -> dict[str, dict[str, float]]:
    """Per mode: the first (warm-up / compile) step's seconds and the median wall and process
    CPU seconds of `options.repeats` further steps, the modes' steps interleaved."""
    device = torch.device(options.device)
    torch.manual_seed(0)
    model = WorldModel(config).to(device).train()
    batch = random_training_batch(config, options.batch_size, options.frames, device)
    steps = training_steps(model, options.modes)
    wall: dict[str, list[float]] = {mode: [] for mode in options.modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in options.modes}
    first: dict[str, float] = {}
    for repeat in range(options.repeats + 1):
        for mode, step in steps.items():
            seconds, cpu_seconds = timed(partial(step, batch, seed=repeat), device)
            if repeat == 0:
                first[mode] = seconds
            else:
                wall[mode].append(seconds)
                cpu[mode].append(cpu_seconds)
            if progress is not None:
                progress.update(1)
    tokens = tokens_per_step(config, options)
    results = {}
    for mode in options.modes:
        median = statistics.median(wall[mode])
        results[mode] = {
            "first_step_s": first[mode],
            "median_step_s": median,
            "median_cpu_step_s": statistics.median(cpu[mode]),
            "step_s": wall[mode],
            "tokens_per_s": tokens / median,
            "frames_per_s": options.batch_size * options.frames / median,
        }
    return results


def run_train_benchmark(options: TrainBenchOptions) -> dict[str, Any]:
    options.check()
    base = saved_model_config(options.checkpoint).replace(variant="hybrid")
    configs = equal_size_configs(base, options.variants)
    report: dict[str, Any] = {
        "benchmark": "train_tokens_per_s",
        "options": asdict(options),
        "tokens_per_step": tokens_per_step(base, options),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "variants": {},
    }
    total = len(options.variants) * len(options.modes) * (options.repeats + 1)
    with tqdm(total=total, desc="bench train", unit="step") as bar:
        for variant in options.variants:
            bar.set_postfix_str(variant)
            config = configs[variant]
            report["variants"][variant] = {
                "parameters": count_parameters(config),
                "modes": measure_training_modes(config, options, bar),
            }
    return report


def format_train_table(report: dict[str, Any]) -> str:
    """Markdown: tokens/s per variant and mode, the speed-up of compile, first-step seconds."""
    options = report["options"]
    modes = options["modes"]
    header = ["variant", "params"] + [f"{mode} tokens/s" for mode in modes]
    if "eager" in modes and "compile" in modes:
        header.append("compile / eager")
    header += [f"{mode} first step s" for mode in modes]
    title = (
        f"training throughput: batch {options['batch_size']} x {options['frames']} frames = "
        f"{report['tokens_per_step']} tokens per step, {options['device']}, "
        f"{report['machine']['threads']} threads, median of {options['repeats']} interleaved "
        f"steps; models sized from {options['checkpoint']}"
    )
    rows = []
    for variant, entry in report["variants"].items():
        measured = entry["modes"]
        cells = [variant, f"{entry['parameters'] / 1e3:.0f}K"]
        cells += [f"{measured[mode]['tokens_per_s']:,.0f}" for mode in modes]
        if "eager" in modes and "compile" in modes:
            speedup = measured["compile"]["tokens_per_s"] / measured["eager"]["tokens_per_s"]
            cells.append(f"{speedup:.2f}x")
        cells += [f"{measured[mode]['first_step_s']:.1f}" for mode in modes]
        rows.append(cells)
    return markdown_table(title, header, rows)
