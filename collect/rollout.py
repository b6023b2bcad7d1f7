"""Make an env by id and record one seeded episode of it with a policy."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lsswm.collect.manifest import describe_action_space, describe_state_spec
from lsswm.collect.recorder import EpisodeRecorder, frame_of, state_spec_of


def make_env(env_id: str, **kwargs: Any) -> Any:
    """``lsswm.envs.make(env_id)``; ``module:EnvId`` first imports ``module`` (which registers
    ``EnvId`` with Gymnasium, as ``gymnasium.make`` does) and then makes it directly."""
    if ":" in env_id:
        module, _, gym_id = env_id.partition(":")
        importlib.import_module(module)
        import gymnasium

        return gymnasium.make(gym_id, **kwargs)
    import lsswm.envs

    return lsswm.envs.make(env_id, **kwargs)


def check_env_id(env_id: str) -> None:
    """Fail fast on an unknown env id (the error lists the lsswm ids), without making it."""
    import gymnasium

    import lsswm.envs

    if ":" in env_id:
        module, _, env_id = env_id.partition(":")
        importlib.import_module(module)
    if env_id not in gymnasium.registry:
        lsswm.envs.make(env_id)  # raises UnknownEnvError naming the registered ids


@dataclass
class EpisodeData:
    """One recorded episode: contract-2 arrays plus deterministic metadata for episode.json."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    image_shape: list[int]
    action_space: dict[str, Any]
    state_spec: dict[str, dict[str, Any]]

    @property
    def steps(self) -> int:
        return len(self.arrays["frames"]) - 1


def rollout_episode(
    env: Any,
    policy: Any,
    seed: int,
    max_steps: int,
    on_step: Callable[[], None] | None = None,
) -> EpisodeData:
    """Reset ``env`` with ``seed`` and record at most ``max_steps`` steps of ``policy``.

    The episode ends at the env's termination/truncation, at the step cap, or when the
    policy sets ``done`` (retrieval, once back at the start). ``on_step`` is called after
    each env step (progress counters).
    """
    obs, info = env.reset(seed=seed)
    policy.reset(seed, obs, info)
    action_space = describe_action_space(env.action_space)
    state_spec = state_spec_of(env, info)
    recorder = EpisodeRecorder(max_steps, frame_of(obs).shape, action_space, state_spec)
    recorder.begin(obs, info)
    for _ in range(max_steps):
        action = policy.act(obs, info)
        if getattr(policy, "done", False):
            recorder.end_reason = "policy_done"
            break
        obs, reward, terminated, truncated, info = env.step(action)
        recorder.record(action, obs, float(reward), terminated, truncated, info)
        if on_step is not None:
            on_step()
        if terminated or truncated:
            break
    arrays = recorder.arrays()
    meta = {
        "seed": int(seed),
        "end_reason": recorder.end_reason,
        "policy_info": policy.episode_info(),
    }
    return EpisodeData(
        arrays=arrays,
        meta=meta,
        image_shape=list(arrays["frames"].shape[1:]),
        action_space=action_space,
        state_spec=describe_state_spec(state_spec),
    )
