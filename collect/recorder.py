"""Turn one env episode into contract-2 per-frame arrays, into preallocated buffers.

Frame t is the observation after t env steps; ``actions[t]`` / ``rewards[t]`` are the action
that led to frame t and the reward received on arriving there, so index 0 holds the null
action and a zero reward. Buffers are allocated once per episode at the step cap, so the
per-step cost is a handful of small copies (measured by ``lsswm bench collect``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lsswm.collect.errors import DatasetError
from lsswm.collect.manifest import action_dtype, action_shape

StateSpec = dict[str, tuple[tuple[int, ...], np.dtype]]


def frame_of(obs: Any) -> np.ndarray:
    """The RGB frame of an observation: the array itself, or ``obs["image"]`` for Dict obs."""
    frame = obs.get("image") if isinstance(obs, Mapping) else obs
    frame = np.asarray(frame) if frame is not None else None
    if frame is None or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        described = (
            f"Dict with keys {sorted(obs)}"
            if isinstance(obs, Mapping)
            else f"{getattr(frame, 'dtype', type(obs))} {getattr(frame, 'shape', '')}"
        )
        raise DatasetError(
            f"observation is {described}; collect records uint8 HxWx3 image observations "
            "(an array, or a Dict observation with an 'image' entry)"
        )
    return frame


def state_spec_of(env: Any, info: Mapping[str, Any]) -> StateSpec:
    """The env's state spec (``env.unwrapped.state_spec``), else inferred from info["state"]."""
    declared = getattr(getattr(env, "unwrapped", env), "state_spec", None)
    state = info.get("state") or {}
    if declared is None:
        declared = {key: (np.shape(value), np.asarray(value).dtype) for key, value in state.items()}
    spec = {key: (tuple(shape), np.dtype(dtype)) for key, (shape, dtype) in declared.items()}
    for key, (shape, _) in spec.items():
        if key in state and np.shape(state[key]) != shape:
            raise DatasetError(
                f"info['state'][{key!r}] has shape {np.shape(state[key])} but the env's "
                f"state_spec says {shape}; fix the env's state_spec"
            )
    return dict(sorted(spec.items()))


class EpisodeRecorder:
    """Accumulates one episode of at most ``max_steps`` env steps."""

    def __init__(
        self,
        max_steps: int,
        image_shape: tuple[int, ...],
        action_space: Mapping[str, Any],
        state_spec: StateSpec,
    ) -> None:
        capacity = max_steps + 1
        self.frames = np.zeros((capacity, *image_shape), dtype=np.uint8)
        self.actions = np.zeros((capacity, *action_shape(action_space)), action_dtype(action_space))
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=bool)
        self.truncated = np.zeros(capacity, dtype=bool)
        self.state = {
            key: np.zeros((capacity, *shape), dtype=dtype)
            for key, (shape, dtype) in state_spec.items()
        }
        self.steps = 0
        self.end_reason = "step_cap"

    def begin(self, obs: Any, info: Mapping[str, Any]) -> None:
        self.steps = 0
        self.frames[0] = frame_of(obs)
        self._store_state(0, info)

    def record(
        self,
        action: Any,
        obs: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: Mapping[str, Any],
    ) -> None:
        t = self.steps + 1
        if t >= len(self.frames):
            raise IndexError("episode longer than the recorder's max_steps")
        self.frames[t] = frame_of(obs)
        self.actions[t] = action
        self.rewards[t] = reward
        self.terminated[t] = terminated
        self.truncated[t] = truncated
        self._store_state(t, info)
        self.steps = t
        if terminated or truncated:
            self.end_reason = "terminated" if terminated else "truncated"

    def _store_state(self, t: int, info: Mapping[str, Any]) -> None:
        if not self.state:
            return
        state = info.get("state")
        if state is None:
            raise DatasetError("env did not put info['state'] (contract 1) on this step")
        for key, buffer in self.state.items():
            buffer[t] = state[key]

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-frame arrays of the recorded episode (views, T+1 rows)."""
        n = self.steps + 1
        truncated = self.truncated[:n]
        if self.end_reason in ("step_cap", "policy_done"):
            # An episode cut by the collector (step cap, or the policy finished) ends outside
            # the MDP: Gymnasium's truncation. episode.json keeps end_reason to tell it apart.
            truncated = truncated.copy()
            truncated[-1] = True
        arrays = {
            "frames": self.frames[:n],
            "actions": self.actions[:n],
            "rewards": self.rewards[:n],
            "terminated": self.terminated[:n],
            "truncated": truncated,
        }
        arrays.update({f"state/{key}": buffer[:n] for key, buffer in self.state.items()})
        return arrays
