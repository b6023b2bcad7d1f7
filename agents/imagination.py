"""Batched imagined episodes over a world model: the core of the imagination environments.

N rows advance together: one world-model stream of batch N, so every step is one batched
``imagine`` call (``denoising_steps`` sampler passes + one clean pass over at most a chunk of
frames), whatever N is. A row starts from a real context (frames + actions from a
:class:`~lsswm.agents.contexts.ContextSource`, resized to the model's frame size): the stream
observes it, and the row's first observation is the context's last real frame. Each step generates the next frame for the
given actions and returns the model's predicted reward and termination probability.

Restarting some rows while the others keep going: the new rows observe their contexts in a
fresh stream that is copied into the running one (``stream.assign``). That needs the two to
be at the same point of the chunk cycle and to hold the same number of cached frames, so a
restart context is ``context_length + k`` frames, with ``k < commit_frames`` chosen so the
lengths agree modulo ``commit_frames``. (Keys are cached without their rotary embedding, so
a row copied in at other absolute frame positions keeps its relative geometry.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lsswm.agents.contexts import ContextSource
from lsswm.agents.critic import check_reward_head, head_inputs
from lsswm.agents.errors import AgentError
from lsswm.agents.model_io import check_model_fits, to_model_frames
from lsswm.agents.train_imagination import HORIZON_ENDS, OBSERVATIONS, SHAPING_POTENTIALS
from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.frame_model import FrameWorldModel
from lsswm.worldmodel.stream import WorldModelStream


def minimum_context_length(config: WorldModelConfig) -> int:
    """Shortest context that fills the stream's key/value cache (so restarted rows match)."""
    return max(1, config.kv_cache_frames or 0)


def longest_context_length(config: WorldModelConfig, context_length: int) -> int:
    """Longest context a restart may ask for (context_length + commit_frames - 1)."""
    return context_length + config.commit_frames - 1


@dataclass
class ImaginedStep:
    frames: np.ndarray  # (N, H, W, 3) uint8, the generated frames
    observations: np.ndarray  # (N, H, W, 3) the frames, or (N, D) float32 their features
    rewards: np.ndarray  # (N,) float32, predicted reward on arriving at the frame
    termination_probs: np.ndarray  # (N,) float32
    terminated: np.ndarray  # (N,) bool: termination_probs > threshold
    truncated: np.ndarray  # (N,) bool: the row reached the horizon (and did not terminate)
    # What the reward is made of, each (N,) float32 and summed in this order: "model" (the
    # model's reward, or the reward head's, times reward_weight), then "motion" and "shaping"
    # when the batch pays them (motion_weight and shaping_weight applied).
    reward_parts: dict[str, np.ndarray] = field(default_factory=dict)


class ImaginedBatch:
    """N imagined episodes stepped as one batch (no automatic restarts: see the adapters).

    Args:
        model: world model with its tokenizer (frames in, frames out).
        contexts: where real starting contexts come from.
        num_rows: N.
        context_length: real frames observed before a row's first imagined step.
        horizon: imagined steps after which a row is truncated (None: never).
        horizon_ends: ``truncate`` (the row is cut off, and the learner bootstraps its own
            value there) or ``terminate`` (the row ends as a terminal state, no bootstrap):
            with a short horizon and target shaping, an episode's return is then its imagined
            rewards plus the shaping critic's value of its last frame, the objective the
            planner maximises from every real frame (section 47 of docs/experiments.md).
        denoising_steps: sampler steps per generated frame (None: the model's default).
        termination_threshold: a row terminates when the predicted probability exceeds it.
        seed: seeds the context draws and the sampler noise.
        motion: a motion head (``lsswm agents fit-critic --targets motion``) or None: its
            predicted movement into each generated frame, times ``motion_weight``, is added
            to the predicted reward (an exploration drive; the planner's ``--motion``).
        reward_head: a reward head (``lsswm agents fit-critic --targets reward``) or None: its
            expected reward of each generated frame replaces the world model's own predicted
            reward, which learned from real frames only.
        reward_weight: the predicted reward's weight. A target value critic (0.8 ** steps to
            the next target) is in units of that reward: weighed by W at the end of a short
            episode, it needs the reward weighed by W too, or standing beside a target (W x 1)
            pays more than taking it (1 + W x the next target's small value).
        observation: ``frames`` or ``features`` (see OBSERVATIONS): what start_all,
            restart and step return as the rows' observations.
        shaping: a critic (``lsswm agents fit-critic``), a list of critics, or None:
            potential-based reward shaping (Ng, Harada and Russell, 1999) with their weighted
            values as the potential: each step adds ``shaping_discount * P(new frame) -
            P(last frame)``, ``P = sum of shaping_weight * V`` over the critics (one weight
            each, or one for all; several add up as the planner's ``--critic`` values do)
            (V of a terminal frame is 0). Moving toward what the critic values pays now,
            and the best policy of the task is unchanged when ``shaping_discount`` is the
            learner's discount.
        shaping_potential: ``value`` (the critic's value V, above) or ``steps``: minus the
            steps to go that V stands for, ``log(V) / log(1 / critic discount)``, with V
            floored at ``critic discount ** shaping_max_steps``. A value critic's
            V = discount ** steps is nearly flat far from what it values, so most imagined
            episodes start where its change pays almost nothing; in steps, every step
            closer pays ``shaping_weight`` wherever the critic can still tell (section 46
            of docs/experiments.md). Any potential keeps the task's best policy.
    """

    def __init__(
        self,
        model: FrameWorldModel,
        contexts: ContextSource,
        num_rows: int,
        *,
        context_length: int = 8,
        horizon: int | None = 100,
        horizon_ends: str = "truncate",
        denoising_steps: int | None = None,
        termination_threshold: float = 0.5,
        seed: int | None = None,
        motion: Any = None,
        motion_weight: float = 1.0,
        observation: str = "frames",
        shaping: Any = None,
        shaping_weight: float | Sequence[float] = 1.0,
        shaping_discount: float = 0.99,
        shaping_potential: str = "value",
        shaping_max_steps: float = 20.0,
        reward_head: Any = None,
        reward_weight: float = 1.0,
    ) -> None:
        config = model.config
        if observation not in OBSERVATIONS:
            raise AgentError(f"observation {observation!r} is not one of {', '.join(OBSERVATIONS)}")
        if num_rows < 1:
            raise AgentError(f"the number of imagined environments must be >= 1, got {num_rows}")
        if config.kv_cache_frames is None and num_rows > 1:
            raise AgentError(
                f"variant {config.variant!r} keeps every frame in its cache, so its rows cannot "
                "restart independently; use one environment or a checkpoint of a bounded-cache "
                "variant (hybrid, causal-window, mamba2, mamba2-fla)"
            )
        shortest = minimum_context_length(config)
        if context_length < shortest:
            raise AgentError(
                f"context_length={context_length} is too short for this model: it caches "
                f"{shortest} frames; use --context-length {shortest} or more"
            )
        if horizon is not None and horizon < 1:
            raise AgentError(f"horizon must be >= 1 imagined steps, got {horizon}")
        if horizon_ends not in HORIZON_ENDS:
            raise AgentError(
                f"horizon_ends {horizon_ends!r} is not one of {', '.join(HORIZON_ENDS)}"
            )
        self.horizon_ends = horizon_ends
        check_model_fits(model, contexts.image_shape, contexts.action_space, "the context source")
        self.model = model
        self.config = config
        self.contexts = contexts
        self.num_rows = num_rows
        self.context_length = context_length
        self.horizon = horizon
        self.denoising_steps = denoising_steps
        self.termination_threshold = termination_threshold
        self.motion, self.motion_weight = motion, motion_weight
        if reward_head is not None:
            try:
                check_reward_head(reward_head, config, "the reward head")
            except ValueError as error:
                raise AgentError(str(error)) from error
        self.reward_head = reward_head
        self.reward_weight = reward_weight
        self.observation = observation
        self.shaping = shaping_critics(shaping)
        self.shaping_weights = shaping_weights(shaping_weight, len(self.shaping))
        self.shaping_discount = shaping_discount
        if shaping_potential not in SHAPING_POTENTIALS:
            raise AgentError(
                f"shaping potential {shaping_potential!r} is not one of "
                f"{', '.join(SHAPING_POTENTIALS)}"
            )
        if shaping_max_steps <= 0:
            raise AgentError(f"shaping_max_steps must be > 0, got {shaping_max_steps}")
        for critic in self.shaping if shaping_potential == "steps" else []:
            discount = critic.config.discount
            if not 0.0 < discount < 1.0:
                raise AgentError(
                    f"a steps potential needs a critic discount in (0, 1), got {discount}"
                )
        self.shaping_potential, self.shaping_max_steps = shaping_potential, shaping_max_steps
        self.potential = np.zeros(num_rows, dtype=np.float32)  # P(last frame)
        self.device = next(model.parameters()).device
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(self.rng.integers(2**63)))
        self.stream: WorldModelStream | None = None
        self.frames: np.ndarray | None = None  # (N, H, W, 3) each row's latest frame
        self.steps = np.zeros(num_rows, dtype=np.int64)

    def seed(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)
        self.generator.manual_seed(int(self.rng.integers(2**63)))

    # ---- starting rows ----------------------------------------------------------------------
    def _observe_contexts(
        self, count: int, length: int
    ) -> tuple[WorldModelStream, np.ndarray, np.ndarray, np.ndarray]:
        """A fresh stream that observed ``count`` real contexts; their last frames; the rows'
        first observations (those frames, or their features); and their shaping potentials."""
        batch = self.contexts.sample(count, length, self.rng)
        frames = to_model_frames(batch.frames, self.model)
        stream = self.model.start_stream(count)
        actions = torch.as_tensor(batch.actions, device=self.device)
        with torch.no_grad():
            out = stream.observe_frames(torch.as_tensor(frames, device=self.device), actions)
        last = np.ascontiguousarray(frames[:, -1])
        potential = self._potential(out, -1)
        if self.observation == "features":
            return stream, last, features_array(out.features[:, -1]), potential
        return stream, last, last, potential

    def _potential(self, out: Any, frame: int) -> np.ndarray:
        """The shaping potential P of frame ``frame`` of ``out`` (rows): each shaping
        critic's value (or steps potential) times its weight, summed."""
        potential = torch.zeros(out.rewards.size(0))
        for critic, weight in zip(self.shaping, self.shaping_weights, strict=True):
            with torch.no_grad():
                value = critic(head_inputs(out, critic)[:, frame]).float().cpu()
            if self.shaping_potential == "steps":
                value = steps_potential(value, critic.config.discount, self.shaping_max_steps)
            potential = potential + weight * value
        return potential.numpy().astype(np.float32)

    def start_all(self) -> np.ndarray:
        """Start every row from a fresh context; returns the first observations (N, ...)."""
        self.stream, self.frames, observations, self.potential = self._observe_contexts(
            self.num_rows, self.context_length
        )
        self.steps[:] = 0
        return observations

    def restart(self, rows: list[int] | np.ndarray) -> np.ndarray:
        """Start ``rows`` from fresh contexts while the other rows keep their episodes."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.stream is None or len(rows) == self.num_rows:
            return self.start_all()[rows]
        commit = self.config.commit_frames
        extra = (self.stream.frames_seen - self.context_length) % commit
        fresh, frames, observations, potential = self._observe_contexts(
            len(rows), self.context_length + extra
        )
        self.stream.assign(torch.as_tensor(rows, device=self.device), fresh)
        assert self.frames is not None  # set by start_all with the stream
        self.frames[rows] = frames
        self.potential[rows] = potential
        self.steps[rows] = 0
        return observations

    # ---- stepping ---------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> ImaginedStep:
        """Generate one frame per row for ``actions`` (N,) or (N, A)."""
        if self.stream is None:
            raise AgentError("step() called before the imagined episodes were started; reset")
        if self.config.action_kind == "discrete":
            tensor = torch.as_tensor(np.asarray(actions).reshape(self.num_rows), dtype=torch.long)
        else:
            shape = (self.num_rows, self.config.action_size)
            tensor = torch.as_tensor(np.asarray(actions, np.float32).reshape(shape))
        out = self.stream.imagine(
            tensor.to(self.device)[:, None],
            denoising_steps=self.denoising_steps,
            generator=self.generator,
        )
        self.steps += 1
        probs = out.termination_probs[:, 0].float().cpu().numpy()
        terminated = probs > self.termination_threshold
        truncated = np.zeros(self.num_rows, dtype=bool)
        if self.horizon is not None:
            truncated = (self.steps >= self.horizon) & ~terminated
        predicted_end = terminated  # the model's own predicted end: no value lies beyond it
        if self.horizon_ends == "terminate":
            terminated, truncated = terminated | truncated, np.zeros_like(truncated)
        assert out.frames is not None  # a FrameWorldModel stream decodes
        frames = out.frames[:, 0].cpu().numpy()
        # A copy: restart() overwrites rows of self.frames, and the step's frames (terminal
        # observations among them) must keep what was generated.
        self.frames = frames.copy()
        parts: dict[str, np.ndarray] = {}
        with torch.no_grad():
            if self.reward_head is None:
                model_reward = out.rewards[:, 0].float()
            else:
                inputs = head_inputs(out, self.reward_head)[:, 0]
                model_reward = self.reward_head.expected_reward(inputs).float()
            parts["model"] = as_rewards(self.reward_weight * model_reward)
            if self.motion is not None:
                moved = self.motion(head_inputs(out, self.motion)[:, 0]).float()
                parts["motion"] = as_rewards(self.motion_weight * moved)
        if self.shaping:
            potential = self._potential(out, 0)
            potential = np.where(predicted_end, 0.0, potential).astype(np.float32)
            parts["shaping"] = self.shaping_discount * potential - self.potential
            self.potential = potential
        rewards = parts["model"].copy()
        for name in ("motion", "shaping"):
            if name in parts:
                rewards += parts[name]
        features = self.observation == "features"
        return ImaginedStep(
            frames=frames,
            observations=features_array(out.features[:, 0]) if features else frames,
            rewards=rewards,
            reward_parts=parts,
            termination_probs=probs.astype(np.float32),
            terminated=terminated,
            truncated=truncated,
        )


def shaping_critics(shaping: Any) -> list[Any]:
    """The shaping critics as a list: none, one, or several."""
    if shaping is None:
        return []
    return list(shaping) if isinstance(shaping, (list, tuple)) else [shaping]


def shaping_weights(weight: float | Sequence[float], count: int) -> list[float]:
    """One weight per shaping critic: a single number weighs them all."""
    if isinstance(weight, (int, float)):
        return [float(weight)] * count
    weights = [float(value) for value in weight]
    if len(weights) != count:
        raise AgentError(f"{len(weights)} shaping weights for {count} shaping critics")
    return weights


def as_rewards(values: torch.Tensor) -> np.ndarray:
    """(N,) rewards as float32 numpy."""
    return values.cpu().numpy().astype(np.float32)


def steps_potential(value: torch.Tensor, discount: float, max_steps: float) -> torch.Tensor:
    """Minus the steps to go that a value ``discount ** steps`` (0 < discount < 1, checked by
    ImaginedBatch) stands for, at most ``max_steps`` (values at or below
    ``discount ** max_steps``, zero and negative ones included, give -max_steps)."""
    floor = discount**max_steps
    return torch.log(value.clamp(min=floor)) / math.log(1.0 / discount)


def features_array(features: torch.Tensor | None) -> np.ndarray:
    """(N, D) pooled features -> float32 numpy observations."""
    if features is None:
        raise AgentError("this world model gives no features, so it cannot feed a feature policy")
    return features.float().cpu().numpy().astype(np.float32)
