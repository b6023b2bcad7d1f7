"""A Stable-Baselines3 policy as the planner's policy prior (``--prior sb3:PATH``).

TD-MPC2 samples part of its planner's candidates from its learned policy, so planning starts
from what the policy would do and the model's lookahead corrects it. Here the policy is one
trained in imagination (``lsswm agents train-in-imagination``, on frames): after each real
frame it gives its action probabilities for that frame, resized to the size it was trained
on, and the planner mixes them into its first sampling distribution (``prior_weight``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lsswm.agents.errors import AgentError
from lsswm.agents.frame_stack import stacked_frame_count
from lsswm.collect.policies_sb3 import channels_last

SB3_PREFIX = "sb3:"  # collect's name for an SB3 policy, as in ``--prior sb3:PATH``


class SB3FramePrior:
    """pi(action | real frame) of an SB3 policy trained on frames (channels-last uint8)."""

    reads = "frames"  # the planner gives it the real frame, not the model's features

    def __init__(self, path: str | Path, num_actions: int) -> None:
        from lsswm.collect.errors import PolicyError
        from lsswm.collect.policies_sb3 import load_sb3_model

        try:
            self.model, _, _ = load_sb3_model(Path(path))
        except PolicyError as error:
            raise AgentError(f"planner prior: {error}") from error
        shape = channels_last(tuple(self.model.observation_space.shape))
        if len(shape) != 3:
            raise AgentError(
                f"the prior policy {path} reads observations of shape {shape}; a planner prior "
                "must read frames (train it with --observe frames)"
            )
        stacked = stacked_frame_count(shape)
        if stacked > 1:
            raise AgentError(
                f"the prior policy {path} reads {stacked} stacked frames; a planner prior "
                "reads one frame (train it without --frame-stack)"
            )
        height, width = shape[:2]
        if height != width:
            raise AgentError(f"the prior policy {path} reads non-square frames {shape}")
        self.size = height
        actions = getattr(self.model.action_space, "n", None)
        if actions != num_actions:
            raise AgentError(
                f"the prior policy {path} chooses among {actions} actions but the world model "
                f"takes {num_actions}; use a policy trained for this env"
            )

    @torch.no_grad()
    def __call__(self, frame: np.ndarray) -> torch.Tensor:
        """(num_actions,) probabilities for one env frame (H, W, 3) uint8, any square size."""
        from lsswm.collect.frames import resize_frames

        resized = resize_frames(torch.from_numpy(np.ascontiguousarray(frame)), self.size)
        policy = self.model.policy
        observation, _ = policy.obs_to_tensor(resized.numpy())
        return policy.get_distribution(observation).distribution.probs[0].float().cpu()
