"""Model-predictive control in imagination: plan with the world model, act, replan.

The agent keeps ONE world-model stream for the whole real episode: every real frame is
observed (with the action that led to it), so the stream's state carries the episode's
long-term memory (block-wise scan states; constant size, whatever the episode length).
Planning never disturbs it: candidates are imagined from ``stream.select([0] * population)``,
a batch of copies of the current state.

One planning call (``Planner.plan``), discrete actions:

1. Start from a uniform categorical distribution per step of the horizon; the previous plan,
   shifted by the actions already executed, is one extra candidate of the first iteration.
2. For each of ``iterations``: sample ``population`` sequences, imagine all of them in one
   batched ``imagine`` call, score each by its predicted discounted return
   ``sum_t discount^t * reward_t * prod_{s<t} (1 - p_terminate_s)``, update the distribution:
   CEM refits it to the ``elites`` best, MPPI to all candidates weighted by
   ``softmax(return / temperature)``, random shooting keeps it uniform.
3. The best imagined sequence is the plan; the agent executes its first ``replan_every``
   actions, then plans again.

Cost per real step (counted by :class:`PlanningAgent` from forward hooks, see docs/agents.md):
``iterations * ceil-ish(horizon / chunk) * (denoising_steps + 1)`` world-model passes of batch
``population`` (each over at most one chunk of frames) per planning call, divided by
``replan_every``, plus one observe pass of batch 1 for the real frame.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lsswm.agents.critic import critic_inputs, head_inputs
from lsswm.agents.errors import AgentError
from lsswm.agents.planner_config import PlannerConfig
from lsswm.agents.real_stream import observe_real_frame, stream_device
from lsswm.collect.recorder import frame_of


@dataclass
class Plan:
    actions: np.ndarray  # (horizon,) the best imagined sequence
    predicted_return: float  # its score
    predicted_rewards: np.ndarray  # (horizon,)
    sequences_imagined: int  # candidates evaluated in this call


class Planner:
    """CEM / MPPI / random shooting over discrete action sequences, on any stream with
    ``select`` and ``imagine`` (the world model's, or a stand-in's)."""

    def __init__(
        self,
        num_actions: int,
        config: PlannerConfig,
        seed: int = 0,
        critic: Any = None,
        prior: Any = None,
        motion: Any = None,
    ) -> None:
        self.num_actions = num_actions
        self.config = config
        # V(features of the last imagined frame): one, a list of them, or None; with weights.
        self.critics = list(critic) if isinstance(critic, (list, tuple)) else [critic]
        self.critics = [c for c in self.critics if c is not None]
        self.critic_weights = config.critic_weight_values() or [1.0] * len(self.critics)
        self.prior = prior  # pi(action | the last real frame or its features), or None
        self.motion = motion  # cells moved into an imagined frame, from its features, or None
        self.generator = torch.Generator()  # candidate sequences
        self._noise: dict[str, torch.Generator] = {}  # imagination noise, one per device
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.generator.manual_seed(seed)
            self._noise = {}
            self._seed = seed
        self._previous = None
        self._previous_probs: torch.Tensor | None = None
        self._memory: list[torch.Tensor] = []  # latents of the episode's recent real frames
        self._prior_probs: torch.Tensor | None = None  # the prior after the last real frame

    def observed(self, features: torch.Tensor | None, frame: Any = None) -> None:
        """The pooled features after the last real frame, and the frame itself: the policy
        prior reads one of them (a prior with ``reads = "frames"`` the frame)."""
        if self.prior is None:
            return
        if getattr(self.prior, "reads", "features") == "frames":
            probs = self.prior(frame)
        elif features is not None:
            probs = self.prior(features.float())
        else:
            return
        self._prior_probs = probs.detach().cpu().view(-1)

    def remember(self, latents: torch.Tensor) -> None:
        """Keep a real frame's latents for the novelty bonus (the last novelty_memory)."""
        self._memory.append(latents.detach().flatten().float().cpu())
        del self._memory[: -self.config.novelty_memory]

    def novelty(self, imagined: torch.Tensor) -> torch.Tensor:
        """(P,) episodic novelty of each candidate's imagined latents (P, n, dim): the mean
        over its frames of the mean distance to the k nearest remembered real frames,
        relative to the population's mean (so the bonus is scale-free)."""
        memory = torch.stack(self._memory)
        distances = torch.cdist(imagined.flatten(0, 1), memory)  # (P * n, M)
        k = min(self.config.novelty_neighbours, len(memory))
        nearest = distances.topk(k, largest=False).values.mean(1).view(imagined.shape[:2])
        per_candidate = nearest.mean(1)
        return per_candidate / per_candidate.mean().clamp_min(1e-8)

    def _noise_generator(self, device: torch.device) -> torch.Generator:
        if str(device) not in self._noise:
            generator = torch.Generator(device=device)
            generator.manual_seed(self._seed + 1)
            self._noise[str(device)] = generator
        return self._noise[str(device)]

    def shift(self, executed: int) -> None:
        """Drop the first ``executed`` actions of the last plan (they were carried out)."""
        if self._previous is not None:
            self._previous = self._previous[executed:]
        if self._previous_probs is not None:
            self._previous_probs = self._previous_probs[executed:]

    def _initial_probs(self) -> torch.Tensor:
        """Uniform per step, or (warm start) the last call's final distribution shifted by
        the executed actions, mixed with uniform: ``warm_start * shifted + (1 - warm_start) *
        uniform`` (steps beyond the old horizon are uniform)."""
        horizon = self.config.horizon
        uniform = torch.full((horizon, self.num_actions), 1.0 / self.num_actions)
        previous = self._previous_probs
        if self.config.warm_start <= 0 or previous is None or not len(previous):
            return uniform
        probs = uniform.clone()
        kept = previous[:horizon]
        mix = self.config.warm_start
        probs[: len(kept)] = mix * kept + (1 - mix) * uniform[: len(kept)]
        return probs

    def _first_probs(self) -> torch.Tensor:
        """The first iteration's distribution: the warm start, with the policy prior (when
        there is one) mixed in at every step."""
        probs = self._initial_probs()
        if self._prior_probs is None:
            return probs
        weight = self.config.prior_weight
        return (1 - weight) * probs + weight * self._prior_probs[None, :]

    def plan(self, stream: Any) -> Plan:
        config = self.config
        horizon, population = config.horizon, config.population
        probs = self._first_probs()
        best_return, best_actions, best_rewards = -math.inf, None, None
        imagined = 0
        for iteration in range(config.iterations):
            sequences = torch.multinomial(
                probs, population, replacement=True, generator=self.generator
            ).T  # (population, horizon)
            if iteration == 0 and self._previous is not None and len(self._previous):
                kept = torch.as_tensor(self._previous[:horizon], dtype=torch.long)
                sequences[0, : len(kept)] = kept
            returns, rewards = self.evaluate(stream, sequences)
            imagined += population
            top = int(torch.argmax(returns))
            if float(returns[top]) > best_return:
                best_return = float(returns[top])
                best_actions, best_rewards = sequences[top].clone(), rewards[top].clone()
            probs = self._update(probs, sequences, returns)
        assert best_actions is not None and best_rewards is not None
        self._previous = best_actions.numpy()
        self._previous_probs = probs
        return Plan(best_actions.numpy(), best_return, best_rewards.numpy(), imagined)

    def evaluate(self, stream: Any, sequences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Imagine every sequence from the stream's state (batch row 0): returns (P,), rewards
        (P, horizon). The stream itself is not changed."""
        if self.config.shared_noise:
            # One noise draw for all: equal sequences get equal scores, so each distinct
            # sequence is imagined once and its score copied to its repeats.
            distinct, which = torch.unique(sequences, dim=0, return_inverse=True)
            returns, rewards = self._score(stream, distinct)
            return returns[which], rewards[which]
        return self._score(stream, sequences)

    def _score(self, stream: Any, sequences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        branch = stream.select([0] * len(sequences))
        device = stream_device(branch)
        out = branch.imagine(
            sequences.to(device),
            denoising_steps=self.config.denoising_steps,
            generator=self._noise_generator(device),
            decode=False,
            shared_noise=self.config.shared_noise,
        )
        rewards = out.rewards.float().cpu()
        terminate = out.termination_probs.float().cpu()
        alive = torch.cumprod(torch.cat([torch.ones_like(terminate[:, :1]), 1 - terminate], 1), 1)
        discounts = self.config.discount ** torch.arange(rewards.size(1), dtype=torch.float32)
        returns = (rewards * alive[:, :-1] * discounts).sum(1)
        has_features = getattr(out, "features", None) is not None
        if self.critics and has_features:
            # Value beyond the horizon: what the critics expect after the last imagined frame
            # (several critics, e.g. of motion and of the target, add up).
            value = torch.zeros_like(returns)
            for critic, weight in zip(self.critics, self.critic_weights, strict=True):
                value = value + weight * critic(head_inputs(out, critic)[:, -1]).float().cpu()
            horizon = rewards.size(1)
            returns = returns + self.config.discount**horizon * alive[:, -1] * value
        if self.motion is not None and has_features:
            # Exploration drive: predicted movement, discounted like the rewards.
            moved = self.motion(head_inputs(out, self.motion)).float().cpu()
            score = (moved * alive[:, :-1] * discounts).sum(1)
            returns = returns + self.config.motion_weight * score
        if self.config.novelty > 0 and self._memory:
            imagined = critic_inputs(out, "latents").cpu()
            returns = returns + self.config.novelty * self.novelty(imagined)
        return returns, rewards

    def _update(
        self, probs: torch.Tensor, sequences: torch.Tensor, returns: torch.Tensor
    ) -> torch.Tensor:
        config = self.config
        if config.method == "random":
            return probs
        if config.method == "cem":
            elite = torch.topk(returns, config.elites).indices
            weights = torch.zeros_like(returns)
            weights[elite] = 1.0 / config.elites
        else:  # mppi
            weights = torch.softmax((returns - returns.max()) / config.temperature, dim=0)
        one_hot = torch.nn.functional.one_hot(sequences, self.num_actions).float()
        fitted = torch.einsum("p,phn->hn", weights, one_hot)
        return config.smoothing * probs + (1 - config.smoothing) * fitted


class ForwardCounter:
    """Counts world-model forward passes (calls and batch rows) through a forward hook."""

    def __init__(self, module: torch.nn.Module | None) -> None:
        self.calls = 0
        self.rows = 0
        self._handle = None
        if module is not None:
            self._handle = module.register_forward_hook(self._count)

    def _count(self, module: torch.nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self.calls += 1
        self.rows += int(inputs[0].shape[0])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()


class PlanningAgent:
    """The planner as a policy for real episodes (collect's Policy protocol: ``reset(seed,
    obs, info)``, ``act(obs, info)``, ``episode_info()``).

    ``model`` is a FrameWorldModel (or a stand-in with the same streaming interface); it must
    take the env's frames and actions (check with agents.model_io.check_model_fits).
    """

    def __init__(
        self,
        model: Any,
        config: PlannerConfig,
        seed: int = 0,
        critic: Any = None,
        prior: Any = None,
        motion: Any = None,
    ) -> None:
        if model.config.action_kind != "discrete":
            raise AgentError(
                "the planner samples discrete action sequences; this world model takes "
                "continuous actions (use a discrete-action checkpoint)"
            )
        self.model = model
        self.config = config
        self.planner = Planner(model.config.action_size, config, seed, critic, prior, motion)
        self.counter = ForwardCounter(getattr(model, "world_model", None))
        self.stream: Any = None
        self._queue: list[int] = []
        self._last_action: int | None = None
        self.last_plan: Plan | None = None
        self._stats: dict[str, float] = {}
        self._passes_at_reset = (0, 0)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        self.planner.reset(seed)
        self._queue = []
        self._last_action = None
        self._stats = dict.fromkeys(
            ("real_steps", "planning_calls", "sequences_imagined", "seconds_planning"), 0.0
        )
        self._passes_at_reset = (self.counter.calls, self.counter.rows)
        self.stream = self.model.start_stream(1)
        self._observe(obs, 0)  # the first frame comes with the null action (contract 2)

    def _observe(self, obs: Any, action: int) -> None:
        out = observe_real_frame(self.model, self.stream, obs, action)
        features = getattr(out, "features", None)
        has_features = features is not None and features.size(1)
        self.planner.observed(features[0, -1] if has_features else None, frame_of(obs))
        if self.config.novelty > 0 and getattr(out, "latents", None) is not None:
            self.planner.remember(out.latents[0, -1])

    @torch.no_grad()
    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        if self.stream is None:
            raise AgentError("PlanningAgent.act() before reset(); call reset first")
        if self._last_action is not None:
            self._observe(obs, self._last_action)
        if not self._queue:
            start = time.perf_counter()
            plan = self.planner.plan(self.stream)
            self._stats["seconds_planning"] += time.perf_counter() - start
            self._stats["planning_calls"] += 1
            self._stats["sequences_imagined"] += plan.sequences_imagined
            self.last_plan = plan  # for videos of the plan (eval/plan_video.py)
            self._queue = [int(a) for a in plan.actions[: self.config.replan_every]]
            self.planner.shift(len(self._queue))
        action = self._queue.pop(0)
        self._last_action = action
        self._stats["real_steps"] += 1
        return action

    def episode_info(self) -> dict[str, Any]:
        steps = max(self._stats.get("real_steps", 0.0), 1.0)
        calls = self.counter.calls - self._passes_at_reset[0]
        rows = self.counter.rows - self._passes_at_reset[1]
        return {
            "planner": self.config.to_dict(),
            "planning_calls": int(self._stats.get("planning_calls", 0)),
            "sequences_imagined": int(self._stats.get("sequences_imagined", 0)),
            "model_passes_per_step": calls / steps,
            "model_rows_per_step": rows / steps,
            "seconds_planning_per_step": self._stats.get("seconds_planning", 0.0) / steps,
        }
