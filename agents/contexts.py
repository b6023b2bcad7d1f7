"""Real contexts to start imagined episodes from: windows of a dataset, or a live environment.

A context is a run of real frames with the actions that led to them (contract 2: ``actions[i]``
led to ``frames[i]``, and the first action of an episode is the null action). The imagination
environment feeds a context to the world model's stream and continues from its last frame.

    source = DatasetContexts("data/maze", max_length=16)      # or LiveEnvContexts(env_id, ...)
    batch = source.sample(count=8, length=12, rng=np.random.default_rng(0))
    batch.frames   # (8, 12, H, W, 3) uint8
    batch.actions  # (8, 12) int64, or (8, 12, A) float32 for continuous actions
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lsswm.agents.errors import AgentError


@dataclass
class Contexts:
    frames: np.ndarray  # (n, L, H, W, 3) uint8
    actions: np.ndarray  # (n, L) int64 or (n, L, A) float32


class ContextSource(Protocol):
    """Where real contexts come from. ``sample`` draws from ``rng`` only (reproducible)."""

    image_shape: tuple[int, int, int]
    action_space: dict[str, Any]  # contract-2 description: {"type": "discrete", "n": 6}
    env_id: str | None

    def sample(self, count: int, length: int, rng: np.random.Generator) -> Contexts: ...


class DatasetContexts:
    """Contexts from datasets on disk (collect's format), through their window loader.

    Windows are ``max_length`` frames long; a request for ``length <= max_length`` frames
    takes the last ``length`` frames of a window, so any length up to the maximum costs one
    window read.

    Several datasets (``root`` a list, or comma-separated paths) pool into one source: each
    context comes from one of them with probability proportional to its windows, as if they
    were one dataset (e.g. recorded data plus the episodes of the policy being trained, so
    that it learns from the states its own actions reach). They must share env, frame shape
    and action space.

    With ``near_reward_fraction`` > 0, that share of the contexts (drawn per context) end
    1..``near_reward_within`` frames before one of the datasets' rewards (each reward equally
    likely), so that many imagined episodes start where the data's agent was about to take
    one (the sampling that ``data.reward_window_fraction`` does for world-model training).
    """

    def __init__(
        self,
        root: str | Path | Sequence[str | Path],
        max_length: int,
        near_reward_fraction: float = 0.0,
        near_reward_within: int = 8,
    ) -> None:
        from lsswm.collect.errors import DatasetError
        from lsswm.collect.windows import WindowDataset
        from lsswm.worldmodel.train.data import RewardEvents

        if not 0.0 <= near_reward_fraction <= 1.0:
            raise AgentError(f"near_reward_fraction must lie in [0, 1], got {near_reward_fraction}")
        if near_reward_within < 1:
            raise AgentError(f"near_reward_within must be >= 1 frames, got {near_reward_within}")
        roots = dataset_roots(root)
        self.sources = []
        for path in roots:
            try:
                self.sources.append(WindowDataset(path, max_length, seed=0, state_keys=()))
            except DatasetError as error:
                raise AgentError(
                    f"cannot draw {max_length}-frame contexts from {path}: {error}"
                ) from error
        described = {describe_source(source) for source in self.sources}
        if len(described) > 1:
            raise AgentError(
                f"the datasets {', '.join(map(str, roots))} differ in env, frame shape or "
                f"action space ({'; '.join(sorted(described))}); pool datasets of one env"
            )
        manifest = self.sources[0].manifest
        self.max_length = max_length
        self.image_shape = tuple(manifest.image_shape)  # type: ignore[assignment]
        self.action_space = dict(manifest.action_space or {})
        self.env_id = manifest.env_id
        windows = np.array([source.total_windows for source in self.sources], dtype=np.float64)
        self.source_odds = windows / windows.sum()
        self.near_reward_fraction = near_reward_fraction
        self.near_reward_within = near_reward_within
        self.reward_events = (
            [RewardEvents(source) for source in self.sources] if near_reward_fraction else []
        )
        self.event_counts = np.array([len(events) for events in self.reward_events], np.float64)
        if near_reward_fraction and not self.event_counts.sum():
            raise AgentError(
                f"{', '.join(map(str, roots))} holds no reward, so no context can start near "
                "one; collect data with rewards (e.g. --policy oracle-mix) or leave the "
                "near-reward fraction at 0"
            )

    def sample(self, count: int, length: int, rng: np.random.Generator) -> Contexts:
        if not 1 <= length <= self.max_length:
            raise AgentError(f"context length {length} must be in [1, {self.max_length}]")
        frames, actions = [], []
        for window_id in rng.integers(2**62, size=count):
            window = self._window(int(window_id), rng)
            frames.append(window["frames"][-length:])
            actions.append(window["actions"][-length:])
        return Contexts(np.stack(frames), np.stack(actions))

    def _window(self, window_id: int, rng: np.random.Generator) -> dict[str, Any]:
        # One plain dataset draws as it always did (no extra rng use): reproducible runs.
        if self.reward_events and rng.random() < self.near_reward_fraction:
            source = self._pick(rng, self.event_counts)
            try:
                slot, start = self.reward_events[source].draw_ending_before(
                    rng, self.near_reward_within
                )
            except ValueError as error:
                raise AgentError(str(error)) from error
            return self.sources[source].read(slot, start)
        return self.sources[self._pick(rng, self.source_odds)].window(window_id)

    def _pick(self, rng: np.random.Generator, weights: np.ndarray) -> int:
        """A source index with probability proportional to ``weights`` (no draw for one)."""
        if len(self.sources) == 1:
            return 0
        return int(rng.choice(len(self.sources), p=weights / weights.sum()))


def dataset_roots(root: str | Path | Sequence[str | Path]) -> list[str | Path]:
    """One dataset path, a list of them, or comma-separated paths -> a list of paths."""
    if isinstance(root, Path):
        return [root]
    if isinstance(root, str):
        return [part.strip() for part in root.split(",") if part.strip()]
    return list(root)


def describe_source(windows: Any) -> str:
    manifest = windows.manifest
    return f"{manifest.env_id} {list(manifest.image_shape)} {manifest.action_space}"


class LiveEnvContexts:
    """Contexts recorded on the fly: reset a live env with a seed drawn from ``rng`` and run
    a collect policy (default ``random``) for ``length - 1`` steps. Slower than a dataset
    (Memory Maze: about 1-2 s per reset plus ~30-90 steps/s), but needs no files."""

    def __init__(self, env_id: str, policy: str = "random", **env_kwargs: Any) -> None:
        from lsswm.collect.manifest import describe_action_space
        from lsswm.collect.policies import make_policy
        from lsswm.collect.rollout import make_env

        self.env_id = env_id
        self.env = make_env(env_id, **env_kwargs)
        self.policy = make_policy(policy, self.env)
        from lsswm.agents.model_io import env_image_shape

        self.image_shape = env_image_shape(self.env)  # type: ignore[assignment]
        self.action_space = describe_action_space(self.env.action_space)

    def sample(self, count: int, length: int, rng: np.random.Generator) -> Contexts:
        from lsswm.collect.rollout import rollout_episode

        frames, actions = [], []
        while len(frames) < count:
            episode = rollout_episode(self.env, self.policy, int(rng.integers(2**31)), length - 1)
            if len(episode.arrays["frames"]) < length:
                continue  # the episode ended early (e.g. Crafter death): draw another seed
            frames.append(np.array(episode.arrays["frames"]))
            actions.append(np.array(episode.arrays["actions"]))
        return Contexts(np.stack(frames), np.stack(actions))

    def close(self) -> None:
        self.env.close()
