"""Planner options: one dataclass, plus the command-line flags that fill it.

Cheap to import (no torch): the CLI modules use it to build their parsers.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from lsswm.agents.errors import AgentError

PLANNING_METHODS = ("cem", "mppi", "random")


@dataclass(frozen=True)
class PlannerConfig:
    """Model-predictive control in imagination (see planner.py).

    method: ``cem`` (cross-entropy method over per-step categorical action distributions),
        ``mppi`` (return-weighted distribution update, the discrete form of MPPI), or
        ``random`` (random shooting: uniform sequences, keep the best).
    horizon: imagined steps per candidate sequence.
    population: candidate sequences per iteration (imagined as one batch).
    iterations: distribution updates per planning call.
    elites: CEM: the best sequences the distribution is refitted to.
    temperature: MPPI: softmax temperature on the returns.
    smoothing: weight of the old distribution in each update (0: replace it).
    replan_every: real steps executed from one plan before planning again.
    denoising_steps: sampler steps per imagined frame (None: the model's default).
    discount: per-step discount of predicted rewards in a sequence's score.
    critic: path of a critic (agents/critic.py) whose value of the last imagined frame is
        added to each candidate's score; empty: none.
    warm_start: weight of the previous call's final distribution (shifted by the executed
        actions) in the first iteration's distribution; 0: start uniform every call.
    """

    # Defaults sized for Memory Maze's 4 Hz on 2 CPU cores with the `tiny` model (docs/agents.md,
    # `lsswm bench planner`): one batch of 16 candidates per call, warm-started from the last
    # plan's distribution, one denoising step per imagined frame, a plan every 2 real steps.
    method: str = "cem"
    horizon: int = 8
    population: int = 16
    iterations: int = 1
    elites: int = 4
    temperature: float = 0.5
    smoothing: float = 0.1
    replan_every: int = 2
    denoising_steps: int | None = 1
    discount: float = 0.97
    warm_start: float = 0.5
    critic: str = ""  # a critic checkpoint (lsswm agents train-critic): value beyond horizon

    def __post_init__(self) -> None:
        if self.method not in PLANNING_METHODS:
            raise AgentError(
                f"unknown planning method {self.method!r}; use one of {', '.join(PLANNING_METHODS)}"
            )
        for name in ("horizon", "population", "iterations", "elites", "replan_every"):
            if getattr(self, name) < 1:
                raise AgentError(f"planner {name} must be >= 1, got {getattr(self, name)}")
        if self.elites > self.population:
            raise AgentError(
                f"planner elites ({self.elites}) cannot exceed the population ({self.population})"
            )
        if self.replan_every > self.horizon:
            raise AgentError(
                f"replan_every ({self.replan_every}) cannot exceed the horizon ({self.horizon}): "
                "a plan holds only horizon actions"
            )
        if not 0.0 <= self.smoothing < 1.0:
            raise AgentError(f"planner smoothing must be in [0, 1), got {self.smoothing}")
        if self.temperature <= 0:
            raise AgentError(f"planner temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.warm_start <= 1.0:
            raise AgentError(f"planner warm_start must be in [0, 1], got {self.warm_start}")
        if self.denoising_steps is not None and self.denoising_steps < 1:
            raise AgentError(f"denoising_steps must be >= 1, got {self.denoising_steps}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def assumed_seconds_per_step(self) -> float:
        """Planning seconds per real step assumed for time estimates: the defaults' 0.083 s
        on the 2-core CPU with the `tiny` model (docs/agents.md, `lsswm bench planner`),
        scaled by the imagined frames per real step (population x horizon x iterations x
        denoising steps / replan_every). That scaling is rough: it gave 0.21 s for the
        setting measured at 0.168 s and 8 s for the old defaults measured at 4.8 s."""
        default = PlannerConfig()
        return PLANNER_SECONDS_PER_STEP * self._work() / default._work()

    def _work(self) -> float:
        denoising = self.denoising_steps if self.denoising_steps is not None else 10
        return self.population * self.horizon * self.iterations * denoising / self.replan_every


PLANNER_SECONDS_PER_STEP = 0.083  # the defaults, act() alone (docs/agents.md)


def add_planner_arguments(parser: argparse.ArgumentParser) -> None:
    default = PlannerConfig()
    group = parser.add_argument_group("planner (MPC in imagination)")
    group.add_argument("--method", choices=PLANNING_METHODS, default=default.method)
    group.add_argument("--horizon", type=int, default=default.horizon, help="imagined steps")
    group.add_argument("--population", type=int, default=default.population)
    group.add_argument("--iterations", type=int, default=default.iterations)
    group.add_argument("--elites", type=int, default=default.elites, help="CEM elites")
    group.add_argument("--temperature", type=float, default=default.temperature, help="MPPI")
    group.add_argument("--replan-every", type=int, default=default.replan_every)
    group.add_argument(
        "--denoising-steps",
        type=int,
        default=default.denoising_steps,
        help="sampler steps per imagined frame",
    )
    group.add_argument("--discount", type=float, default=default.discount)
    group.add_argument(
        "--warm-start",
        type=float,
        default=default.warm_start,
        help="weight of the previous plan's distribution in the next call's first iteration",
    )
    group.add_argument(
        "--critic",
        default=default.critic,
        help="critic checkpoint (lsswm agents train-critic): value beyond the horizon",
    )


def planner_config_from_args(args: argparse.Namespace) -> PlannerConfig:
    return PlannerConfig(
        method=args.method,
        horizon=args.horizon,
        population=args.population,
        iterations=args.iterations,
        elites=min(args.elites, args.population),
        temperature=args.temperature,
        replan_every=args.replan_every,
        denoising_steps=args.denoising_steps,
        discount=args.discount,
        warm_start=args.warm_start,
        critic=args.critic or "",
    )
