"""A convolutional encoder for the world model's small frames, for SB3 policies.

SB3's ``CnnPolicy`` encodes with NatureCNN, whose first layer (8x8, stride 4) needs frames of
at least 36 px, so a policy of 32x32 imagined frames falls back to an MLP over raw pixels.
An MLP must learn a target's look separately at every place in the view; convolutions share
it across places. This encoder keeps NatureCNN's shape (three convolutions, then one linear
layer) at strides that fit 32 px: 32 -> 16 -> 8 -> 8, 64 channels, 256 features.
"""

from __future__ import annotations

import gymnasium
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class SmallFrameCNN(BaseFeaturesExtractor):
    """Frames (C, H, W), scaled to [0, 1] by SB3, to ``features_dim`` features."""

    def __init__(self, observation_space: gymnasium.spaces.Box, features_dim: int = 256) -> None:
        super().__init__(observation_space, features_dim)
        channels = observation_space.shape[0]
        self.convolutions = nn.Sequential(
            nn.Conv2d(channels, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.convolutions(torch.zeros(1, *observation_space.shape)).shape[1]
        self.linear = nn.Sequential(nn.Linear(flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convolutions(observations))
