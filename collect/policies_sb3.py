"""``sb3:PATH``: a trained Stable-Baselines3 model (.zip) as a data collector.

The algorithm class is read from the zip (the module of its saved policy class): DQN, SAC,
TD3 and DDPG policies live in their own modules; anything else (ActorCriticPolicy and its
CNN / multi-input variants) loads as PPO, which also serves A2C checkpoints for inference.
Actions are sampled from the policy (``deterministic=False``) with torch seeded per episode,
so collection stays reproducible; pass ``sb3:PATH`` with a file name ending in ``.zip``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.collect.errors import PolicyError
from lsswm.collect.policies import BasePolicy

_ALGORITHM_BY_MODULE = {
    "stable_baselines3.dqn.policies": "DQN",
    "stable_baselines3.sac.policies": "SAC",
    "stable_baselines3.td3.policies": "TD3",
}


def detect_algorithm(path: Path) -> str:
    """Name of the SB3 algorithm class that saved ``path`` (from its policy class module)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as error:
        raise PolicyError(
            f"{path} is not a Stable-Baselines3 model zip ({error}); save one with model.save()"
        ) from error
    module = (data.get("policy_class") or {}).get("__module__", "")
    return _ALGORITHM_BY_MODULE.get(module, "PPO")


def load_sb3_model(path: Path) -> tuple[Any, Path, str]:
    """The SB3 model saved at ``path`` (``.zip`` may be left off), on the CPU, with the file
    it was read from and its algorithm's name."""
    if not path.is_file() and path.with_suffix(".zip").is_file():
        path = path.with_suffix(".zip")
    if not path.is_file():
        raise PolicyError(f"sb3 policy file {str(path)!r} not found; pass sb3:/path/to/model.zip")
    from lsswm.envs.legacy_gym import import_gym_quietly

    import_gym_quietly()  # stable_baselines3 imports the old gym package (and its banner)
    import stable_baselines3

    algorithm = detect_algorithm(path)
    return getattr(stable_baselines3, algorithm).load(path, device="cpu"), path, algorithm


class SB3Policy(BasePolicy):
    def __init__(
        self,
        env: Any,
        path: str,
        deterministic: bool = False,
        max_steps: int | None = None,
    ) -> None:
        super().__init__(env)
        self.model, model_path, algorithm = load_sb3_model(Path(path))
        if self.model.action_space != env.action_space:
            raise PolicyError(
                f"sb3 model {model_path} acts in {self.model.action_space} but the env's action "
                f"space is {env.action_space}; train or pick a model for this env"
            )
        self.deterministic = deterministic
        self.algorithm = algorithm
        self.path = str(model_path)
        self.frame_size = frame_size_for(self.model.observation_space, env.observation_space)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        import torch

        torch.manual_seed(int(self.rng.integers(2**31)))

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        if self.frame_size is not None:
            obs = resized_frame(obs, self.frame_size)
        action, _ = self.model.predict(obs, deterministic=self.deterministic)
        if np.ndim(action) == 0:
            return int(action) if np.issubdtype(np.asarray(action).dtype, np.integer) else action
        return np.asarray(action)

    def episode_info(self) -> dict[str, Any]:
        return {"sb3_algorithm": self.algorithm}


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    """An SB3 policy's observation shape as the env's frames have it: SB3 stores image spaces
    channels-first (VecTransposeImage), and its predict() transposes channels-last frames."""
    # SB3's own test (is_image_space_channels_first): the smallest axis first is channels.
    if len(shape) == 3 and min(shape) == shape[0] < shape[2]:
        return (shape[1], shape[2], shape[0])
    return shape


def frame_size_for(trained_on: Any, env_space: Any) -> int | None:
    """The side to resize the env's frames to for a policy trained on square RGB frames of
    another size (a policy trained in imagination sees the world model's frame size, e.g.
    32x32 for a 64x64 env); None otherwise."""
    policy_shape = channels_last(tuple(getattr(trained_on, "shape", None) or ()))
    env_shape = tuple(getattr(env_space, "shape", None) or ())
    if policy_shape == env_shape:
        return None
    square_rgb = len(policy_shape) == 3 and policy_shape[2] == 3
    if square_rgb and policy_shape[0] == policy_shape[1] and len(env_shape) == 3:
        return int(policy_shape[0])
    # Other observations (stacked frames, a world model's features) are given to the policy
    # by the agents that wrap it (lsswm.agents.agent_factory).
    return None


def resized_frame(obs: Any, size: int) -> np.ndarray:
    """The observation's RGB frame at ``size`` x ``size`` (area resize)."""
    import torch

    from lsswm.collect.frames import resize_frames
    from lsswm.collect.recorder import frame_of

    frame = torch.from_numpy(np.ascontiguousarray(frame_of(obs)))
    return resize_frames(frame, size).numpy()
