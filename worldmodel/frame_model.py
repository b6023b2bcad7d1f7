"""A world model with its tokenizer: observe and imagine in pixel frames.

model = FrameWorldModel(world_model, tokenizer)       # or load_world_model(path)
stream = model.start_stream(batch_size)
stream.observe_frames(frames_uint8, actions)          # (B, n, H, W, 3)
out = stream.imagine(actions, denoising_steps=10)     # out.frames: (B, n, H, W, 3) uint8
"""

from __future__ import annotations

from torch import nn

from lsswm.worldmodel.config import WorldModelConfig, WorldModelConfigError
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.stream import WorldModelStream
from lsswm.worldmodel.tokenizer import Tokenizer


class FrameWorldModel(nn.Module):
    def __init__(self, world_model: WorldModel, tokenizer: Tokenizer) -> None:
        super().__init__()
        config = world_model.config
        expected = (config.latent_height, config.latent_width, config.latent_channels)
        if tokenizer.config.latent_shape != expected:
            raise WorldModelConfigError(
                f"tokenizer latents {tokenizer.config.latent_shape} do not match the world "
                f"model's latent grid {expected}; build the world model with "
                "latent_height/latent_width/latent_channels from the tokenizer config"
            )
        self.world_model = world_model
        self.tokenizer = tokenizer

    @property
    def config(self) -> WorldModelConfig:
        """The world model's config (so code can take either model type)."""
        return self.world_model.config

    def start_stream(self, batch_size: int) -> WorldModelStream:
        return WorldModelStream(self.world_model, batch_size, tokenizer=self.tokenizer)
