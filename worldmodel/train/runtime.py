"""Device, DDP, precision, optimizer, schedule, EMA and stop signals shared by the trainers.

Distributed runs are started by torchrun, which sets RANK / WORLD_SIZE / LOCAL_RANK: the
process group uses NCCL on CUDA and gloo on CPU. Without those variables everything runs in
one process and no process group is created.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from lsswm.worldmodel.train.config import OptimConfig, SystemConfig, TrainConfigError


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf; the run stops, the last good checkpoint stays."""

    user_facing = True


class SimulatedKill(RuntimeError):
    """Raised by debug.kill_at_step: the run stops without saving, as if killed."""


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    distributed: bool = False
    autocast_dtype: torch.dtype | None = None  # bf16 on CUDA unless precision=fp32
    compile: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"


def setup_runtime(system: SystemConfig) -> Runtime:
    """Pick the device, join the torchrun process group if there is one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wants_cuda = system.device == "cuda" or (system.device == "auto" and torch.cuda.is_available())
    if wants_cuda and not torch.cuda.is_available():
        raise TrainConfigError("system.device=cuda but no CUDA device is visible; use cpu")
    if wants_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
        if system.threads > 0:
            torch.set_num_threads(system.threads)
    distributed = world_size > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if wants_cuda else "gloo")
    if system.precision == "bf16" and not wants_cuda:
        raise TrainConfigError("system.precision=bf16 autocast is for CUDA; use fp32 on cpu")
    autocast = torch.bfloat16 if wants_cuda and system.precision != "fp32" else None
    return Runtime(
        device=device,
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        distributed=distributed,
        autocast_dtype=autocast,
        compile=system.compile,
    )


def shutdown_runtime(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.barrier()


def autocast(runtime: Runtime) -> contextlib.AbstractContextManager:
    if runtime.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=runtime.device.type, dtype=runtime.autocast_dtype)


def any_rank(runtime: Runtime, flags: list[bool]) -> list[bool]:
    """Element-wise OR of boolean flags over all ranks (one small all-reduce)."""
    if not runtime.distributed:
        return flags
    tensor = torch.tensor([float(f) for f in flags], device=runtime.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


def build_optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices/embeddings only (not on biases, norms, 1-D params)."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, eps=optim.eps)


def lr_factor(step: int, total_steps: int, optim: OptimConfig) -> float:
    """Linear warmup to 1, then cosine decay to optim.min_lr_ratio at total_steps."""
    if optim.warmup_steps and step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    span = max(1, total_steps - optim.warmup_steps)
    progress = min(1.0, (step - optim.warmup_steps) / span)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * cosine


def build_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, optim: OptimConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, optim)
    )


def restore_optimization(
    optimizer: torch.optim.AdamW, state: dict, total_steps: int, optim: OptimConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Resume both trainers' optimisation from a checkpoint's train state: the AdamW moments,
    then the hyperparameters and the schedule of the *current* ``optim`` (it may change on
    resume, e.g. a lower lr after a NaN stop) from the checkpoint's step on. The scheduler is
    rebuilt at that step, so no private scheduler field is written; the torch RNG comes back
    when the state holds it."""
    optimizer.load_state_dict(state["optimizer"])
    for group, decay in zip(optimizer.param_groups, (optim.weight_decay, 0.0), strict=True):
        group.update(betas=optim.betas, eps=optim.eps, weight_decay=decay, initial_lr=optim.lr)
    done = int(state["scheduler"]["last_epoch"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, optim), last_epoch=done - 1
    )
    if "rng" in state:
        torch.set_rng_state(state["rng"]["torch"])
    return scheduler


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers.

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so early weights do
    not dominate a short run. decay = 0 keeps an exact copy.
    """

    def __init__(self, model: nn.Module, shadow: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = shadow
        self.shadow.load_state_dict(model.state_dict())
        self.shadow.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, updates_done: int) -> None:
        decay = min(self.decay, (1 + updates_done) / (10 + updates_done))
        source = model.state_dict()
        for name, value in self.shadow.state_dict().items():
            new = source[name]
            if value.is_floating_point():
                value.lerp_(new.to(value.dtype), 1.0 - decay)
            else:
                value.copy_(new)


@contextlib.contextmanager
def stop_requests() -> Iterator[list[bool]]:
    """While active, SIGINT/SIGTERM set a flag instead of killing the run at once, so the
    trainer can finish its step and save a checkpoint. A second Ctrl-C interrupts for real."""
    requested = [False]
    previous = {}

    def handler(signum: int, frame: object) -> None:
        if requested[0] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested[0] = True

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: no signal handling
        previous.clear()
    try:
        yield requested
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
