"""Build an agent for a real env by name (navigation suite, train-in-imagination evaluation).

Names:
  ``random``            collect's random policy (uniform actions, sticky repeats; options as
                        ``random:stickiness=0``)
  ``oracle``            Memory Maze shortest paths to the current target from the true state
  ``planner``           MPC in imagination with a world model checkpoint (``ckpt``)
  ``sb3:PATH``          a Stable-Baselines3 policy zip (trained in imagination or for real)
Any other collect policy name (``explore``, ``crafter-gather``) works as well.
Every agent follows collect's Policy protocol (``reset(seed, obs, info)``, ``act(obs, info)``,
``episode_info()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsswm.agents.errors import AgentError
from lsswm.agents.planner_config import PlannerConfig

AGENT_CHOICES = ("random", "oracle", "planner", "sb3:PATH")


def make_agent(
    name: str,
    env: Any,
    *,
    ckpt: str | Path | None = None,
    planner: PlannerConfig | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> Any:
    if name == "oracle":
        from lsswm.agents.oracle import MazeOracle

        return MazeOracle(env)
    if name == "planner":
        return make_planning_agent(env, ckpt, planner or PlannerConfig(), device, seed)
    from lsswm.collect.errors import PolicyError
    from lsswm.collect.policies import make_policy

    try:
        policy = make_policy(name, env)
    except PolicyError as error:
        raise AgentError(
            f"{error} (agents: {', '.join(AGENT_CHOICES)}, or a collect policy name)"
        ) from error
    trained_on = getattr(getattr(policy, "model", None), "observation_space", None)
    if name.startswith("sb3:") and trained_on is not None:
        if len(trained_on.shape) == 1:  # a policy of a world model's features
            return make_feature_policy_agent(policy, name[len("sb3:") :], env, ckpt, device)
        policy = _fit_frames(policy, tuple(trained_on.shape), env)
    return policy


def make_feature_policy_agent(
    policy: Any, path: str, env: Any, ckpt: str | Path | None, device: str
) -> Any:
    """An SB3 policy trained on a world model's features (``--observe features``), acting
    through its own stream of that model: ``ckpt``, or the model named in its summary."""
    from lsswm.agents.feature_policy import FeaturePolicyAgent, trained_in_checkpoint

    ckpt = ckpt or trained_in_checkpoint(policy.path)
    if ckpt is None:
        raise AgentError(
            f"the policy {path} acts on a world model's features, and no summary beside it "
            "names the model it was trained in; pass --ckpt MODEL.safetensors (that model)"
        )
    model = load_model_for_env(ckpt, env, device)
    size = policy.model.observation_space.shape[0]
    if model.config.d_model != size:
        raise AgentError(
            f"the policy {path} reads {size} features but {ckpt} gives "
            f"{model.config.d_model}; pass --ckpt the model the policy was trained in"
        )
    return FeaturePolicyAgent(model, policy)


def load_model_for_env(ckpt: str | Path, env: Any, device: str) -> Any:
    """The world model at ``ckpt`` (with its tokenizer), refused with a clear error when it
    cannot take ``env``'s frames and actions."""
    from lsswm.agents.model_io import (
        check_model_fits,
        describe_space,
        env_image_shape,
        load_frame_world_model,
    )
    from lsswm.worldmodel.checkpoint import resolve_device

    model = load_frame_world_model(ckpt, resolve_device(device))
    env_name = f"env {getattr(env.spec, 'id', type(env.unwrapped).__name__)}"
    check_model_fits(model, env_image_shape(env), describe_space(env.action_space), env_name)
    return model


class ResizedFramesAgent:
    """Gives a policy the env's frames resized to the size it was trained on: a policy
    trained in imagination sees the world model's frame size (e.g. 32x32 for 64x64 envs)."""

    def __init__(self, inner: Any, size: int) -> None:
        self.inner = inner
        self.size = size

    def _frame(self, obs: Any) -> Any:
        import numpy as np
        import torch

        from lsswm.collect.frames import resize_frames
        from lsswm.collect.recorder import frame_of

        frame = torch.from_numpy(np.ascontiguousarray(frame_of(obs)))
        return resize_frames(frame, self.size).numpy()

    def reset(self, seed: int, obs: Any, info: Any) -> None:
        self.inner.reset(seed, self._frame(obs), info)

    def act(self, obs: Any, info: Any) -> Any:
        return self.inner.act(self._frame(obs), info)

    def episode_info(self) -> dict[str, Any]:
        return self.inner.episode_info()


def _fit_frames(policy: Any, trained_on: tuple[int, ...], env: Any) -> Any:
    from lsswm.agents.frame_stack import RGB_CHANNELS, FrameStackAgent, stacked_frame_count
    from lsswm.agents.model_io import env_image_shape
    from lsswm.collect.policies_sb3 import channels_last

    frames = env_image_shape(env)
    trained_on = channels_last(trained_on)
    count = stacked_frame_count(trained_on)
    if count > 1:  # trained with --frame-stack: give it the last `count` frames
        trained_on = (*trained_on[:2], RGB_CHANNELS)
        policy = FrameStackAgent(policy, count, trained_on)
    if trained_on == frames:
        return policy
    square_rgb = len(trained_on) == 3 and trained_on[2] == 3 and trained_on[0] == trained_on[1]
    if not square_rgb or len(frames) != 3 or frames[0] != frames[1]:
        raise AgentError(
            f"the SB3 policy takes observations of shape {trained_on} but the env gives "
            f"frames of shape {frames}; use a policy trained on this env's observations"
        )
    return ResizedFramesAgent(policy, trained_on[0])


def load_planner_heads(config: PlannerConfig, device: Any = "cpu") -> tuple[Any, Any]:
    """The planner's critics (a list, or None) and motion head (or None), from the paths in
    ``config``."""
    from lsswm.agents.critic import load_critic

    critics = [load_critic(path, device) for path in config.critic_paths()]
    motion = load_critic(config.motion, device) if config.motion else None
    return critics or None, motion


def load_planner_prior(spec: str, num_actions: int, device: Any = "cpu") -> Any:
    """The planner's policy prior: ``sb3:PATH`` (a policy of frames), a fit-prior checkpoint
    path (a policy of the model's features), or None for an empty spec."""
    if not spec:
        return None
    from lsswm.agents.sb3_prior import SB3_PREFIX, SB3FramePrior

    if spec.startswith(SB3_PREFIX):
        return SB3FramePrior(spec[len(SB3_PREFIX) :], num_actions)
    from lsswm.agents.policy_prior import load_prior

    return load_prior(spec, device)


def make_planning_agent(
    env: Any, ckpt: str | Path | None, config: PlannerConfig, device: str, seed: int
) -> Any:
    if ckpt is None:
        raise AgentError("the planner needs a world model: pass --ckpt MODEL.safetensors")
    from lsswm.agents.planner import PlanningAgent
    from lsswm.worldmodel.checkpoint import resolve_device

    model = load_model_for_env(ckpt, env, device)
    critic, motion = load_planner_heads(config, resolve_device(device))
    prior = load_planner_prior(config.prior, model.config.action_size, resolve_device(device))
    return PlanningAgent(model, config, seed=seed, critic=critic, prior=prior, motion=motion)
