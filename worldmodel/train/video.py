"""Sample videos during training: ground truth | generated, side by side, after a context.

The model observes the first `context` frames of a real clip (teacher forcing through the
streaming API), then imagines the rest with the clip's real actions. Every video frame shows
the ground truth on the left and the model's frame on the right; imagined frames carry a red
bar above the right half (context frames a green one), so the hand-over point is visible.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lsswm.collect.video import label_panels
from lsswm.worldmodel.frame_model import FrameWorldModel

GAP = 2  # pixels between the halves
BAR = 2  # marker bar height


@torch.no_grad()
def imagine_after_context(
    model: FrameWorldModel,
    frames: Tensor,
    actions: Tensor,
    context: int,
    denoising_steps: int | None = None,
    seed: int = 0,
) -> Tensor:
    """Observe frames[:, :context] (uint8 (B, T, H, W, 3)), then imagine frames[:, context:]
    from their actions. Returns the imagined uint8 frames (B, T - context, H, W, 3)."""
    device = next(model.parameters()).device
    frames, actions = frames.to(device), actions.to(device)
    stream = model.start_stream(frames.size(0))
    stream.observe_frames(frames[:, :context], actions[:, :context])
    generator = torch.Generator(device=device).manual_seed(seed)
    imagined = stream.imagine(actions[:, context:], denoising_steps, generator=generator)
    return imagined.frames.cpu()


def side_by_side(truth: np.ndarray, generated: np.ndarray, context: int) -> np.ndarray:
    """(T, H, W, 3) truth and (T - context, H, W, 3) generated -> (T, BAR+H, 2W+GAP, 3)."""
    frames, height, width, _ = truth.shape
    canvas = np.full((frames, BAR + height, 2 * width + GAP, 3), 255, dtype=np.uint8)
    canvas[:, BAR:, :width] = truth
    canvas[:context, BAR:, width + GAP :] = truth[:context]
    canvas[context:, BAR:, width + GAP :] = generated
    canvas[:context, :BAR, width + GAP :] = (0, 160, 0)
    canvas[context:, :BAR, width + GAP :] = (220, 0, 0)
    model = ["model: context"] * context + ["model: imagined"] * (frames - context)
    return label_panels(canvas, ["ground truth", model], gap=GAP)  # upscaled, labelled
