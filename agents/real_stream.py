"""A world-model stream that observes a real episode, one frame at a time.

The planner and the feature policy both keep one stream for the whole episode, so the model's
memory (the hybrid's scan state) spans it. Each real frame is observed with the action that
led to it; the first frame of an episode comes with the null action 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def stream_device(stream: Any) -> torch.device:
    """The device of a stream's tensors (CPU for stand-ins without any)."""
    tensors = stream.tensors() if hasattr(stream, "tensors") else []
    return tensors[0].device if tensors else torch.device("cpu")


@torch.no_grad()
def observe_real_frame(model: Any, stream: Any, obs: Any, action: int) -> Any:
    """Observe the env's observation ``obs`` (resized to the model's frame size) after
    ``action``; returns the stream's output for it (features, latents, ...)."""
    from lsswm.agents.model_io import to_model_frames
    from lsswm.collect.recorder import frame_of

    frame = np.ascontiguousarray(frame_of(obs))
    if hasattr(model, "tokenizer"):  # a stand-in reads its frames as they are
        frame = to_model_frames(frame, model)
    device = stream_device(stream)
    frames = torch.as_tensor(frame).to(device)[None, None]
    return stream.observe_frames(frames, torch.tensor([[action]], device=device))
