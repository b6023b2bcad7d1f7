"""The world model as an environment: an SB3 VecEnv and a single-env Gymnasium view.

    venv = ImaginationVecEnv(model, DatasetContexts(root, 16), num_envs=8, horizon=100)
    PPO("CnnPolicy", venv).learn(10_000)        # every step: one batched imagine() call

Observations are uint8 frames (H, W, 3), the same as the real env's, so a policy trained here
runs unchanged in the real env; or, with ``observation="features"``, the model's pooled
features of each frame (D,), which a policy reads in the real env through its own stream of
the same model (agents/feature_policy.py). Rewards and terminations are the model's predictions;
an episode is truncated after ``horizon`` imagined steps. The VecEnv restarts finished rows
by itself (SB3's contract: the returned observation is the new episode's first frame, the last
frame of the finished one is in ``infos[i]["terminal_observation"]`` and
``infos[i]["TimeLimit.truncated"]`` tells a time limit from a termination).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium
import numpy as np

from lsswm.envs.legacy_gym import import_gym_quietly

import_gym_quietly()  # stable_baselines3 imports the old gym package (and its banner)

from stable_baselines3.common.vec_env import VecEnv  # noqa: E402
from stable_baselines3.common.vec_env.base_vec_env import (  # noqa: E402
    VecEnvIndices,
    VecEnvStepReturn,
)

from lsswm.agents.contexts import ContextSource  # noqa: E402
from lsswm.agents.imagination import ImaginedBatch  # noqa: E402
from lsswm.agents.model_io import model_action_space, model_image_shape  # noqa: E402
from lsswm.worldmodel.frame_model import FrameWorldModel  # noqa: E402


def observation_space(model: FrameWorldModel, observation: str = "frames") -> gymnasium.spaces.Box:
    """What an imagined row shows its agent: the model's frames, or its features (D,)."""
    if observation == "features":
        dim = model.config.d_model
        return gymnasium.spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float32)
    return gymnasium.spaces.Box(0, 255, shape=model_image_shape(model), dtype=np.uint8)


class ImaginationVecEnv(VecEnv):
    """``num_envs`` imagined episodes stepped as one batch. ``options`` are the keyword
    arguments of :class:`ImaginedBatch` (context_length, horizon, denoising_steps,
    termination_threshold, seed). ``seed(s)`` then ``reset()`` reproduces the same contexts
    and frames."""

    def __init__(
        self, model: FrameWorldModel, contexts: ContextSource, num_envs: int = 8, **options: Any
    ) -> None:
        self.world = ImaginedBatch(model, contexts, num_envs, **options)
        self.render_mode = "rgb_array"  # read by VecEnv.__init__ through get_attr
        space = observation_space(model, self.world.observation)
        super().__init__(num_envs, space, model_action_space(model))
        self._actions: np.ndarray | None = None
        self._observations: np.ndarray | None = None

    # ---- the VecEnv contract ------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        seeds = [s for s in self._seeds if s is not None]
        if seeds:
            # One generator drives the whole batch, so the first seed (SB3 gives seed + i to
            # env i) determines everything.
            self.world.seed(seeds[0])
        self._observations = self.world.start_all()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return self._observations.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(); call step(actions)")
        result = self.world.step(self._actions)
        self._actions = None
        observations = result.observations.copy()
        dones = result.terminated | result.truncated
        infos: list[dict[str, Any]] = [
            {"termination_prob": float(p)} for p in result.termination_probs
        ]
        finished = np.flatnonzero(dones)
        for row in finished:
            infos[row]["terminal_observation"] = result.observations[row]
            infos[row]["TimeLimit.truncated"] = bool(result.truncated[row])
        if finished.size:
            observations[finished] = self.world.restart(finished)
        self._observations = observations
        return observations.copy(), result.rewards.copy(), dones, infos

    def close(self) -> None:
        self.world.stream = None

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.world.frames is None:
            return [None] * self.num_envs
        return list(self.world.frames)

    # Every "sub-env" is a row of one object, so attributes and methods are the VecEnv's own.
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gymnasium.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)


class ImaginationEnv(gymnasium.Env):
    """One imagined episode as a Gymnasium env (the N=1 case of :class:`ImaginedBatch`).

    ``options`` are the keyword arguments of :class:`ImaginedBatch` (context_length, horizon,
    denoising_steps, termination_threshold). ``reset(seed=s)`` draws the context from ``s``
    (same seed, same start); the episode ends when the model predicts termination or after
    ``horizon`` steps.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        model: FrameWorldModel,
        contexts: ContextSource,
        *,
        render_mode: str | None = None,
        **options: Any,
    ) -> None:
        self.world = ImaginedBatch(model, contexts, 1, **options)
        self.observation_space = observation_space(model, self.world.observation)
        self.action_space = model_action_space(model)
        self.render_mode = render_mode
        self._seeded = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self.world.seed(int(self.np_random.integers(2**63)))
            self._seeded = True
        return self.world.start_all()[0].copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        result = self.world.step(np.asarray(action)[None])
        info = {"termination_prob": float(result.termination_probs[0])}
        return (
            result.observations[0].copy(),
            float(result.rewards[0]),
            bool(result.terminated[0]),
            bool(result.truncated[0]),
            info,
        )

    def render(self) -> np.ndarray | None:
        if self.render_mode is None or self.world.frames is None:
            return None
        return self.world.frames[0].copy()
