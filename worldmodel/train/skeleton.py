"""The trainer skeleton that the tokenizer trainer (tokenizer.py) and the world model trainer
(loop.py) share; each subclass fills in only what differs.

A subclass builds its network, fresh or from the run's latest checkpoint (after
`check_resumable`), then calls `start_optimization`: AdamW with warmup + cosine, restored on
resume together with the step, the data position and the torch RNG (betas, eps, weight decay
and the schedule follow the current config), and the loss module wrapped for DDP and
torch.compile. `run` is the loop, top to bottom:

    for stage_index, epoch, index, batch in self.batches():  # from the resume position on
        metrics, stop = self.train_step(batch, stage)          # NaN stop before the update
        position, logging, debug kill, stop on a signal, sample, checkpoint
    finish: the last checkpoint and the export

A subclass provides `loss_inputs` (the loss module's arguments for a batch), `record` (its
logging), `write_weights`, `sample`, `export`, `export_path` and `result`; `describe` and
`after_update` (the world model's EMA) are optional.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lsswm.worldmodel.train.checkpoint import (
    checkpoints_dir,
    resumable_checkpoint,
    step_folder_name,
    write_checkpoint,
)
from lsswm.worldmodel.train.config import (
    Stage,
    TrainConfigError,
    config_differences,
    config_to_json,
)
from lsswm.worldmodel.train.data import DataMismatchError, WindowBatches, derive_seed, describe_data
from lsswm.worldmodel.train.runtime import (
    Runtime,
    SimulatedKill,
    TrainingDiverged,
    any_rank,
    autocast,
    barrier,
    build_optimizer,
    build_scheduler,
    restore_optimization,
    setup_runtime,
    shutdown_runtime,
    stop_requests,
)

# Fields that may differ when a run is resumed (they do not change what is learned).
RESUME_MUTABLE_PREFIXES = ("log.", "system.", "debug.", "optim.", "data.num_workers", "data.path")

Position = tuple[int, int, int]  # (stage, epoch, next batch): where a resumed run continues
Batch = dict[str, torch.Tensor]


def run_training(
    trainer_class: type[TrainerSkeleton], config: Any, validate: Callable[[Any], None]
) -> Any:
    """Validate `config`, start the runtime (device, DDP process group), run the trainer and
    shut the runtime down again."""
    validate(config)
    if not config.run_dir:
        raise TrainConfigError("no run directory; pass --run-dir DIR")
    runtime = setup_runtime(config.system)
    try:
        return trainer_class(config, runtime).run()
    finally:
        shutdown_runtime(runtime)


def due(every: int, step: int) -> bool:
    """Whether a periodic action (`every` steps; 0 = never) falls on `step`."""
    return every > 0 and step % every == 0


def wrap_for_runtime(module: nn.Module, runtime: Runtime) -> nn.Module:
    """`module` under DDP when the run has several ranks, then compiled when asked."""
    if runtime.distributed:
        module = nn.parallel.DistributedDataParallel(
            module, device_ids=[runtime.device.index] if runtime.is_cuda else None
        )
    if runtime.compile:
        module = torch.compile(module)
    return module


def saved_position(state: dict[str, Any]) -> Position:
    """The data position of a checkpoint's train state. Tokenizer checkpoints written before
    the two trainers shared this skeleton hold (epoch, batch) of their one stage."""
    values = tuple(int(value) for value in state["position"])
    return (0, *values) if len(values) == 2 else values


def endless_epochs(
    batches: WindowBatches, epoch: int, start: int
) -> Iterator[tuple[int, int, Batch]]:
    """(epoch, batch index, batch) from batch `start` of `epoch` on, epoch after epoch."""
    while True:
        for index, batch in batches.batches(epoch, start):
            yield epoch, index, batch
        epoch, start = epoch + 1, 0


class TrainerSkeleton:
    """The loop both trainers run. `config` is a TrainConfig or a TokenizerTrainConfig: both
    have a curriculum of Stages, total_steps, data, optim, log, system and debug."""

    run_kind = "run"  # the resume error says "RUN holds a {run_kind} with ..."
    activity = "training"  # the divergence error says "{activity} diverged: ..."
    exported = "model"  # the last line says "done: N steps; {exported} -> PATH"

    def __init__(self, config: Any, runtime: Runtime) -> None:
        self.config = config  # a subclass replaces it with the resolved config
        self.runtime = runtime
        self.run_dir = Path(config.run_dir)
        self.spec = describe_data(config.data)
        self.checkpoint, self.state = resumable_checkpoint(self.run_dir)
        self.step = 0
        self.position: Position = (0, 0, 0)
        self.last_loss: float | None = None
        self.writer: Any = None

    # -- set-up ----------------------------------------------------------------------------
    def check_resumable(self, saved: Any, requested: Any) -> None:
        """Refuse to resume when the run's saved config differs from `requested` in a field
        that changes what is learned (all but RESUME_MUTABLE_PREFIXES and run_dir)."""
        differing = [
            name
            for name in config_differences(saved, requested)
            if not name.startswith(RESUME_MUTABLE_PREFIXES) and name != "run_dir"
        ]
        if differing:
            raise TrainConfigError(
                f"{self.run_dir} holds a {self.run_kind} with a different configuration "
                f"({', '.join(differing)} differ); re-run the command that started it to "
                "resume, or choose a new --run-dir"
            )

    def start_optimization(self, network: nn.Module, loss_module: nn.Module) -> None:
        """AdamW and the schedule for `network`; when resuming, the step, data position,
        optimizer, schedule and torch RNG of the checkpoint. The loss module (its forward
        returns (loss, metrics)) is wrapped for DDP and compile."""
        config = self.config
        self.network = network
        self.optimizer = build_optimizer(network, config.optim)
        if self.state is None:
            self.scheduler = build_scheduler(self.optimizer, config.total_steps, config.optim)
        else:
            self.step = int(self.state["step"])
            self.position = saved_position(self.state)
            self.scheduler = restore_optimization(
                self.optimizer, self.state, config.total_steps, config.optim
            )
        self.module = wrap_for_runtime(loss_module, self.runtime)

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> Any:
        config = self.config
        self.log_line(self.describe())
        if self.step >= config.total_steps:
            self.log_line(f"{self.run_dir}: already trained for {self.step} steps; nothing to do")
            export = self.export_path if self.export_path.is_file() else None
            return self.result(finished=True, interrupted=False, export=export)
        stage_ends = list(itertools.accumulate(stage.steps for stage in config.curriculum))
        self.start_logging()
        interrupted = False
        try:
            with self.progress_bar() as bar, stop_requests() as stop:
                for stage_index, epoch, index, batch in self.batches():
                    stage = config.curriculum[stage_index]
                    metrics, interrupted = self.train_step(batch, stage, stop)
                    stage_done = self.step == stage_ends[stage_index]
                    if stage_done:
                        self.position = (stage_index + 1, 0, 0)
                    else:
                        self.position = (stage_index, epoch, index + 1)
                    bar.update(1)
                    self.record(metrics, stage, bar)
                    if self.step == config.debug.kill_at_step:  # 0 (off) is never a step here
                        raise SimulatedKill(f"debug.kill_at_step={self.step}")
                    if interrupted:
                        break
                    if due(config.log.video_every, self.step):
                        self.sample(batch)
                    if stage_done or due(config.log.checkpoint_every, self.step):
                        self.save_checkpoint()
        except BaseException:
            self.close_writer()
            raise
        return self.finish(interrupted)

    def batches(self) -> Iterator[tuple[int, int, int, Batch]]:
        """(stage index, epoch, batch index, batch) from self.position to the end of the
        curriculum, one for each remaining step. The order is a pure function of (seed,
        stage, epoch, batch, rank), so a resumed run sees what an uninterrupted one saw."""
        curriculum = self.config.curriculum
        first, epoch, start = self.position
        done = self.step
        for stage_index in range(first, len(curriculum)):
            stage = curriculum[stage_index]
            remaining = sum(s.steps for s in curriculum[: stage_index + 1]) - done
            if stage_index != first:
                epoch, start = 0, 0
            window_batches = self.stage_batches(stage_index, stage)
            for epoch_, index, batch in itertools.islice(
                endless_epochs(window_batches, epoch, start), remaining
            ):
                yield stage_index, epoch_, index, batch
            done += remaining

    def stage_batches(self, stage_index: int, stage: Stage) -> WindowBatches:
        runtime = self.runtime
        batches = WindowBatches(
            self.config.data,
            self.spec,
            stage.frames,
            stage.batch_size,
            derive_seed(self.config.seed, "train", stage_index),
            runtime.rank,
            runtime.world_size,
        )
        if len(batches) == 0:
            raise DataMismatchError(
                f"the dataset yields no batch of {stage.batch_size} windows of "
                f"{stage.frames} frames; lower the batch size or collect more data"
            )
        return batches

    def train_step(
        self, batch: Batch, stage: Stage, stop: list[bool]
    ) -> tuple[dict[str, float], bool]:
        """One optimizer step on `batch`. A NaN/inf loss or gradient norm on any rank raises
        TrainingDiverged before the update is applied. Returns the step's metrics and whether
        any rank was asked to stop (SIGINT/SIGTERM)."""
        config, runtime = self.config, self.runtime
        inputs = self.loss_inputs(batch)
        self.network.train()
        with autocast(runtime):
            loss, metrics = self.module(*inputs)
        if config.debug.nan_at_step and self.step + 1 == config.debug.nan_at_step:
            loss = loss * float("nan")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = config.optim.grad_clip if config.optim.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), max_norm)
        finite = bool(torch.isfinite(loss).item() and torch.isfinite(grad_norm).item())
        diverged, stop_now = any_rank(runtime, [not finite, stop[0]])
        if diverged:
            raise self.divergence(float(loss.item()), float(grad_norm.item()), stage)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.after_update()
        self.last_loss = float(loss.item())
        values = {name: float(value) for name, value in metrics.items()}
        values["grad_norm"] = float(grad_norm)
        return values, stop_now

    def divergence(self, loss: float, grad_norm: float, stage: Stage) -> TrainingDiverged:
        where = self.checkpoint or "none (no checkpoint was written yet)"
        what = f"loss {loss}" if not math.isfinite(loss) else f"gradient norm {grad_norm}"
        during = f" ({stage.frames}-frame stage)" if stage.frames > 1 else ""
        return TrainingDiverged(
            f"{self.activity} diverged: {what} at step {self.step + 1}{during}; stopped "
            f"before applying it. Last good checkpoint: {where}. Lower optim.lr (now "
            f"{self.config.optim.lr}) or raise optim.warmup_steps and re-run the same command "
            "with that --set to resume from it"
        )

    def finish(self, interrupted: bool) -> Any:
        if self.checkpoint is None or self.checkpoint.name != step_folder_name(self.step):
            self.save_checkpoint()
        export = None
        if interrupted:
            self.log_line(
                f"interrupted at step {self.step}; checkpoint {self.checkpoint} saved. Re-run "
                "the same command to resume."
            )
        else:
            export = self.export()
            barrier(self.runtime)
            self.log_line(f"done: {self.step} steps; {self.exported} -> {export}")
        self.close_writer()
        return self.result(finished=not interrupted, interrupted=interrupted, export=export)

    # -- checkpoints -----------------------------------------------------------------------
    def train_state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "position": list(self.position),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
            "config": config_to_json(self.config),
        }

    def save_checkpoint(self) -> Path | None:
        path = None
        if self.runtime.is_main:
            path = write_checkpoint(
                self.run_dir,
                self.step,
                self.write_weights,
                self.train_state(),
                keep=self.config.log.keep_checkpoints,
            )
        # Every rank tracks the checkpoint (same path), so all take the same barriers.
        self.checkpoint = checkpoints_dir(self.run_dir) / step_folder_name(self.step)
        barrier(self.runtime)
        return path

    # -- logging ---------------------------------------------------------------------------
    def log_line(self, text: str | None) -> None:
        if text and self.runtime.is_main:
            print(text, file=sys.stderr, flush=True)

    def start_logging(self) -> None:
        if self.runtime.is_main and self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    def close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def progress_bar(self) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self.config.total_steps,
            initial=self.step,
            desc=self.progress_label(),
            unit="step",
            disable=not (self.config.log.progress and self.runtime.is_main),
            file=sys.stderr,
            dynamic_ncols=True,
        )

    # -- what a trainer fills in -----------------------------------------------------------
    def describe(self) -> str | None:
        """A line printed before training (None: nothing)."""
        return None

    def progress_label(self) -> str:
        return "train"

    def loss_inputs(self, batch: Batch) -> tuple[Any, ...]:
        raise NotImplementedError

    def after_update(self) -> None:
        """Called after each optimizer step (the world model updates its EMA)."""

    def record(self, metrics: dict[str, float], stage: Stage, bar: Any) -> None:
        raise NotImplementedError

    def sample(self, batch: Batch) -> None:
        raise NotImplementedError

    def write_weights(self, folder: Path) -> None:
        raise NotImplementedError

    @property
    def export_path(self) -> Path:
        raise NotImplementedError

    def export(self) -> Path | None:
        raise NotImplementedError

    def result(self, finished: bool, interrupted: bool, export: Path | None) -> Any:
        raise NotImplementedError
