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

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        import torch

        torch.manual_seed(int(self.rng.integers(2**31)))

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        action, _ = self.model.predict(obs, deterministic=self.deterministic)
        if np.ndim(action) == 0:
            return int(action) if np.issubdtype(np.asarray(action).dtype, np.integer) else action
        return np.asarray(action)

    def episode_info(self) -> dict[str, Any]:
        return {"sb3_algorithm": self.algorithm}
