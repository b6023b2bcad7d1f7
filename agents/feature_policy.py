"""A policy that acts on a world model's features, in imagination and in the real env alike.

Trained by ``lsswm agents train-in-imagination --observe features``: inside the model, each
imagined frame's observation is the model's pooled features of it. In the real env the agent
keeps its own stream of the same model for the whole episode (as the planner does), observes
every real frame, and gives the policy that frame's features. The policy so reads one
representation in both worlds, instead of blurred imagined pixels in training and sharp real
ones at test (Dreamer's actor reads the model state the same way), and the features carry
what the model holds of the episode's past (the hybrid's scan state).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsswm.agents.errors import AgentError
from lsswm.agents.real_stream import observe_real_frame
from lsswm.agents.train_imagination import SUMMARY_FILE


class FeaturePolicyAgent:
    """Collect's Policy protocol (``reset``, ``act``, ``episode_info``) around an SB3 policy
    (``inner``, with ``reset`` and ``act``) of the features of ``model``'s stream."""

    def __init__(self, model: Any, inner: Any) -> None:
        self.model = model
        self.inner = inner
        self.stream: Any = None
        self._features: Any = None
        self._last_action: int | None = None

    def _observe(self, obs: Any, action: int) -> Any:
        out = observe_real_frame(self.model, self.stream, obs, action)
        return out.features[0, -1].float().cpu().numpy()

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        self.stream = self.model.start_stream(1)
        self._last_action = None
        self._features = self._observe(obs, 0)  # the first frame comes with the null action
        self.inner.reset(seed, self._features, info)

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        if self.stream is None:
            raise AgentError("FeaturePolicyAgent.act() before reset(); call reset first")
        if self._last_action is not None:
            self._features = self._observe(obs, self._last_action)
        action = int(self.inner.act(self._features, info))
        self._last_action = action
        return action

    def episode_info(self) -> dict[str, Any]:
        return self.inner.episode_info()


def trained_in_checkpoint(policy_path: str | Path) -> str | None:
    """The world model a policy was trained in, from the summary beside its zip (or None)."""
    summary = Path(policy_path).with_name(SUMMARY_FILE)
    if not summary.is_file():
        return None
    settings = json.loads(summary.read_text(encoding="utf-8")).get("settings", {})
    return settings.get("ckpt")
