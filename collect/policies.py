"""The policy interface of the collectors, the policy registry, and the ``random`` policy.

A policy is built once per worker for one env (``make_policy(name, env)``) and reused across
episodes: ``reset(seed, obs, info)`` starts an episode (all randomness must come from
``seed`` so episodes are reproducible), ``act(obs, info)`` returns the next action.
``episode_info()`` may return JSON-able facts about the episode just recorded (the
retrieval policy reports where its return path starts); they land in episode.json.

Policy names: ``NAME`` or ``NAME:key=value,key=value`` (e.g. ``random:stickiness=0.9``,
``retrieval:context=400``), and ``sb3:PATH`` for a Stable-Baselines3 zip.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lsswm.collect.errors import PolicyError

# Salt mixed into every policy's seed so the policy's random stream is not the env's.
POLICY_SEED_SALT = 0x5EED_C011


class Policy(Protocol):
    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None: ...

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any: ...

    def episode_info(self) -> dict[str, Any]: ...


def policy_rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([POLICY_SEED_SALT, seed, *stream]))


class BasePolicy:
    """Defaults shared by the built-in policies."""

    def __init__(self, env: Any) -> None:
        self.action_space = env.action_space
        self.rng = policy_rng(0)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        self.rng = policy_rng(seed)

    def episode_info(self) -> dict[str, Any]:
        return {}

    def random_action(self) -> Any:
        """A uniformly random action drawn from the policy's own seeded stream."""
        import gymnasium

        space = self.action_space
        if isinstance(space, gymnasium.spaces.Discrete):
            return int(space.start + self.rng.integers(space.n))
        if isinstance(space, gymnasium.spaces.Box):
            low = np.where(np.isfinite(space.low), space.low, -1.0)
            high = np.where(np.isfinite(space.high), space.high, 1.0)
            return self.rng.uniform(low, high).astype(space.dtype)
        raise PolicyError(f"random actions for {space} are not supported (Discrete or Box only)")


class RandomPolicy(BasePolicy):
    """Uniform random actions with sticky repeats.

    Each step keeps the previous action with probability ``stickiness`` (default 0.75, so
    runs of the same action have mean length 4), else draws a fresh uniform action. Works for
    any Discrete or Box action space.
    """

    def __init__(self, env: Any, stickiness: float = 0.75, max_steps: int | None = None) -> None:
        super().__init__(env)
        if not 0.0 <= stickiness < 1.0:
            raise PolicyError(f"random:stickiness must be in [0, 1), got {stickiness}")
        self.stickiness = stickiness
        self._action: Any = None

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self._action = None

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        if self._action is None or self.rng.random() >= self.stickiness:
            self._action = self.random_action()
        return self._action


@dataclass(frozen=True)
class PolicyEntry:
    factory: Callable[..., Policy]
    help: str


def _load_registry() -> dict[str, PolicyEntry]:
    # Imported here so that importing this module stays light and each policy module can
    # import BasePolicy from here without a cycle.
    from lsswm.collect.policies_crafter import CrafterGatherPolicy
    from lsswm.collect.policies_maze import (
        ExplorePolicy,
        LookAroundPolicy,
        OracleMixPolicy,
        OutAndBackPolicy,
        RetrievalPolicy,
    )

    return {
        "random": PolicyEntry(RandomPolicy, "uniform random actions, sticky (any env)"),
        "explore": PolicyEntry(
            ExplorePolicy, "Memory Maze: shortest paths to least-recently-visited cells"
        ),
        "retrieval": PolicyEntry(
            RetrievalPolicy, "Memory Maze: explore a context path, then drive it back"
        ),
        "lookaround": PolicyEntry(
            LookAroundPolicy, "Memory Maze: explore, with full turns in place at each goal"
        ),
        "outback": PolicyEntry(
            OutAndBackPolicy, "Memory Maze: out to an explore goal and back by the same cells"
        ),
        "oracle-mix": PolicyEntry(
            OracleMixPolicy,
            "Memory Maze: legs to the current target (oracle) mixed with explore legs "
            "(wander=P: that share of the others random, bumping into walls)",
        ),
        "crafter-gather": PolicyEntry(
            CrafterGatherPolicy, "Crafter: collect wood/saplings/stone, place table, craft"
        ),
    }


def policy_names() -> list[str]:
    return [*_load_registry(), "sb3:PATH"]


def parse_policy_name(name: str) -> tuple[str, dict[str, Any]]:
    """``'retrieval:context=400,noise=0.1'`` -> ``('retrieval', {'context': 400, ...})``."""
    if name.startswith("sb3:"):
        return "sb3", {"path": name[len("sb3:") :]}
    base, _, options_text = name.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, options_text.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise PolicyError(f"policy option {item!r} in {name!r} must look like key=value")
        options[key.strip()] = _parse_value(value.strip())
    return base, options


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def policy_factory(base: str) -> Callable[..., Policy]:
    """The class behind a policy name (without options); unknown names list the known ones."""
    if base == "sb3":
        from lsswm.collect.policies_sb3 import SB3Policy

        return SB3Policy
    registry = _load_registry()
    if base not in registry:
        available = ", ".join(policy_names())
        raise PolicyError(f"unknown policy {base!r}; available policies: {available}")
    return registry[base].factory


def check_policy_name(name: str) -> None:
    """Fail fast (before any worker starts) on an unknown policy or malformed options."""
    policy_factory(parse_policy_name(name)[0])


def make_policy(name: str, env: Any, max_steps: int | None = None) -> Policy:
    """Build the policy ``name`` for ``env``; unknown names list the available ones.

    ``max_steps`` is the episode's step cap (policies may size their phases by it).
    """
    base, options = parse_policy_name(name)
    factory = policy_factory(base)
    try:
        inspect.signature(factory).bind(env, max_steps=max_steps, **options)
    except TypeError as error:
        raise PolicyError(f"bad options for policy {name!r}: {error}") from error
    return factory(env, max_steps=max_steps, **options)
