"""Planner options: one dataclass, plus the command-line flags that fill it.

Cheap to import (no torch): the CLI modules use it to build their parsers.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from lsswm.agents.errors import AgentError
from lsswm.agents.weighted_paths import split_paths, weighted_paths

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
        added to each candidate's score; several paths, comma-separated: their values add up
        (a critic of the motion to come and one of the target's nearness), each times its
        weight in ``critic_weights`` (comma-separated; empty: all 1); empty: none.
    warm_start: weight of the previous call's final distribution (shifted by the executed
        actions) in the first iteration's distribution; 0: start uniform every call.
    novelty: weight of an episodic novelty bonus (as in NGU's episodic memory): each
        candidate's imagined latents are compared with the latents of the last
        ``novelty_memory`` real frames of the episode; the mean distance to their
        ``novelty_neighbours`` nearest, divided by the population's mean, is added to its
        score times ``novelty``. Views not seen lately score higher, so a planner with no
        reward in sight moves on instead of circling. 0: off.
    prior: a policy prior: a path from ``lsswm agents fit-prior`` (agents/policy_prior.py,
        reads the model's features), or ``sb3:PATH``, a policy trained on frames
        (agents/sb3_prior.py, e.g. by ``lsswm agents train-in-imagination``);
        ``prior_weight`` of its action probabilities after the last real frame is mixed into
        the first iteration's distribution at every step (as TD-MPC2 samples candidates
        from its policy); empty: none.
    shared_noise: common random numbers: every candidate of a planning call is imagined from
        the same sampler noise, so candidates are ranked by what their actions do, not by the
        luck of their noise draws; each distinct sequence is then imagined once. False: a
        fresh draw per sampled candidate, which plans better here (docs/experiments.md,
        section 34: shared noise cost half a target per dev episode), hence the default.
    motion: path of a motion head (``lsswm agents fit-critic --targets motion``): its
        predicted distance moved into each imagined frame, discounted and summed over the
        horizon, is added to each candidate's score times ``motion_weight``. An exploration
        drive: with no reward in sight the planner moves on along corridors instead of
        turning in place or pushing into walls; empty: none.
    """

    # The settings of the navigation results in docs/agents.md (issue 11, session 5), sized for
    # Memory Maze's 4 Hz on 2 CPU cores with the shipped 0.52M models: one batch of 32
    # candidates per call, a horizon of 3 (reward prediction is reliable up to 3 steps
    # ahead, AUROC >= 0.94), one denoising step per imagined frame, a new plan every real
    # step; warm start 0.9 (commitment: with less the planner dithers left-right in dead
    # ends) and discount 0.9 (the motion value's). Until session 5: warm start 0.5, discount
    # 0.97.
    method: str = "cem"
    horizon: int = 3
    population: int = 32
    iterations: int = 1
    elites: int = 4
    temperature: float = 0.5
    smoothing: float = 0.1
    replan_every: int = 1
    denoising_steps: int | None = 1
    discount: float = 0.9
    warm_start: float = 0.9
    critic: str = ""  # a critic checkpoint (lsswm agents train-critic): value beyond horizon
    novelty: float = 0.0
    prior: str = ""
    prior_weight: float = 0.5
    novelty_memory: int = 256
    novelty_neighbours: int = 5
    motion: str = ""
    motion_weight: float = 1.0
    critic_weights: str = ""
    shared_noise: bool = False

    def __post_init__(self) -> None:
        if self.method not in PLANNING_METHODS:
            raise AgentError(
                f"unknown planning method {self.method!r}; use one of {', '.join(PLANNING_METHODS)}"
            )
        if not 0.0 <= self.prior_weight <= 1.0:
            raise AgentError(f"planner prior_weight must be in [0, 1], got {self.prior_weight}")
        if self.novelty < 0:
            raise AgentError(f"planner novelty must be >= 0, got {self.novelty}")
        self.critic_weight_values()  # one number per critic, or a clear error
        if self.motion_weight < 0:
            raise AgentError(f"planner motion_weight must be >= 0, got {self.motion_weight}")
        names = ("horizon", "population", "iterations", "elites", "replan_every")
        for name in (*names, "novelty_memory", "novelty_neighbours"):
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

    def critic_paths(self) -> list[str]:
        return split_paths(self.critic)

    def critic_weight_values(self) -> list[float]:
        """One weight per critic path (all 1 when ``critic_weights`` is empty)."""
        return weighted_paths(self.critic, self.critic_weights, "--critic")[1]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def assumed_seconds_per_step(self) -> float:
        """Planning seconds per real step assumed for time estimates: the defaults' 0.16 s
        on the 2-core CPU with the shipped hybrid (docs/agents.md, `lsswm bench planner`),
        scaled by the imagined frames per real step (population x horizon x iterations x
        denoising steps / replan_every). That scaling is rough (the observe pass and the
        per-chunk overhead do not scale with it)."""
        default = PlannerConfig()
        return PLANNER_SECONDS_PER_STEP * self._work() / default._work()

    def _work(self) -> float:
        denoising = self.denoising_steps if self.denoising_steps is not None else 10
        return self.population * self.horizon * self.iterations * denoising / self.replan_every


# The defaults, act() alone, the shipped hybrid with its heads (docs/agents.md).
PLANNER_SECONDS_PER_STEP = 0.16


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
        help="critic checkpoint (lsswm agents train-critic or fit-critic): value beyond the "
        "horizon; several, comma-separated, add up",
    )
    group.add_argument(
        "--critic-weights",
        default=default.critic_weights,
        help="comma-separated weights of the --critic values, one per critic (default: 1 each)",
    )
    group.add_argument(
        "--prior",
        default=default.prior,
        help="policy prior the candidates are sampled from: a checkpoint of lsswm agents "
        "fit-prior, or sb3:PATH (an SB3 policy trained on frames)",
    )
    group.add_argument(
        "--prior-weight",
        type=float,
        default=default.prior_weight,
        help="weight of the policy prior in the first iteration's distribution",
    )
    group.add_argument(
        "--novelty",
        type=float,
        default=default.novelty,
        help="weight of the episodic novelty bonus (imagined views unlike the episode's "
        "recent real ones score higher); 0: off",
    )
    group.add_argument(
        "--motion",
        default=default.motion,
        help="motion head (lsswm agents fit-critic --targets motion): predicted movement over "
        "the horizon is added to each candidate's score, an exploration drive",
    )
    group.add_argument(
        "--motion-weight",
        type=float,
        default=default.motion_weight,
        help="weight of the predicted movement (cells per step) in a candidate's score",
    )
    group.add_argument(
        "--shared-noise",
        action=argparse.BooleanOptionalAction,
        default=default.shared_noise,
        help="imagine every candidate from the same sampler noise (common random numbers), "
        "so candidates are ranked by their actions rather than their noise draws",
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
        novelty=args.novelty,
        prior=args.prior or "",
        prior_weight=args.prior_weight,
        critic_weights=args.critic_weights or "",
        motion=args.motion or "",
        motion_weight=args.motion_weight,
        shared_noise=args.shared_noise,
    )
