"""Frames at another size: the one area resize of the project (training windows, the world
model's tokenizer size, policies trained on the model's frames)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> uint8 (..., size, size, 3) by area averaging (no-op if equal)."""
    height, width = frames.shape[-3:-1]
    if (height, width) == (size, size):
        return frames
    lead = frames.shape[:-3]
    images = frames.reshape(-1, height, width, 3).permute(0, 3, 1, 2).float()
    images = F.interpolate(images, size=(size, size), mode="area")
    images = images.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return images.reshape(*lead, size, size, 3).contiguous()
