"""Load a world model for acting, and put real frames into the size it was trained on.

The trainer may have fed the model area-resized frames (``data.image_size``, e.g. Memory
Maze's 64x64 frames at 32x32): agents do the same to every real frame they give the model
(:func:`to_model_frames`, the trainer's own ``resize_frames``), so any square RGB env works
with any tokenizer size. What agents cannot use: models trained on every k-th frame
(``data.frame_stride`` > 1: one model step is k env steps) or on pose actions
(``data.actions=pose``: the agent chooses env actions, not camera poses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch

from lsswm.agents.errors import AgentError
from lsswm.worldmodel.frame_model import FrameWorldModel


def takes_poses(path: str | Path) -> bool:
    """Whether the checkpoint was trained on camera poses (``data.actions=pose``)."""
    from lsswm.worldmodel.checkpoint import TrainingMetadata, read_metadata

    return TrainingMetadata.from_metadata(read_metadata(path)).data.actions == "pose"


def pose_from_state(state: Any) -> np.ndarray:
    """A Memory Maze state (info["state"]: agent_pos, agent_dir, maze_layout) -> the (4,)
    pose action a ``data.actions=pose`` model was trained on (the trainer's pose_actions)."""
    from lsswm.worldmodel.train.data import pose_actions

    if state is None or any(k not in state for k in ("agent_pos", "agent_dir", "maze_layout")):
        raise AgentError(
            "a pose-conditioned model needs the env's info['state'] with agent_pos, agent_dir "
            "and maze_layout (a Memory Maze env such as lsswm/MemoryMaze-9x9-v0)"
        )
    size = int(np.asarray(state["maze_layout"]).shape[-1])
    return pose_actions(np.asarray(state["agent_pos"]), np.asarray(state["agent_dir"]), size)


def load_frame_world_model(
    path: str | Path, device: str | torch.device = "cpu", allow_poses: bool = False
) -> FrameWorldModel:
    """A world model checkpoint saved with its tokenizer, in eval mode on ``device``.
    allow_poses: accept a pose-conditioned model (for callers that feed it the real env's
    poses, like ``lsswm play``; planners choose env actions and cannot)."""
    from lsswm.worldmodel.checkpoint import TrainingMetadata, load_world_model, read_metadata

    train_data = TrainingMetadata.from_metadata(read_metadata(path)).data
    if train_data.frame_stride != 1:
        raise AgentError(
            f"{path} was trained on every {train_data.frame_stride}th frame, so one model "
            "step is several env steps; agents need a checkpoint trained with data.frame_stride=1"
        )
    if train_data.actions == "pose" and not allow_poses:
        raise AgentError(
            f"{path} was trained with pose actions (data.actions=pose); agents choose env "
            "actions, so they need a checkpoint trained with data.actions=dataset"
        )
    model = load_world_model(path, device=device)
    if not isinstance(model, FrameWorldModel):
        raise AgentError(
            f"{path} holds a world model without its tokenizer; agents need frames, so pass a "
            "checkpoint saved with its tokenizer (e.g. a training run's world_model.safetensors)"
        )
    return model.eval()


def model_image_shape(model: Any) -> tuple[int, int, int]:
    config = model.tokenizer.config
    return (config.image_size, config.image_size, config.image_channels)


def to_model_frames(frames: np.ndarray, model: Any) -> np.ndarray:
    """uint8 frames (..., H, W, 3) -> (..., S, S, 3) at the tokenizer's size S (area
    averaging, as the trainer resizes); unchanged when already that size."""
    from lsswm.collect.frames import resize_frames

    size = model.tokenizer.config.image_size
    if frames.shape[-3:-1] == (size, size):
        return frames
    return resize_frames(torch.from_numpy(np.array(frames)), size).numpy()  # a writable copy


def model_action_space(model: Any) -> gymnasium.spaces.Space:
    """The Gymnasium action space the model is conditioned on (continuous: [-1, 1]^A)."""
    config = model.config
    if config.action_kind == "discrete":
        return gymnasium.spaces.Discrete(config.action_size)
    return gymnasium.spaces.Box(-1.0, 1.0, shape=(config.action_size,), dtype=np.float32)


def check_model_fits(
    model: Any,
    image_shape: tuple[int, ...] | None,
    action_space: dict[str, Any] | None,
    source: str,
) -> None:
    """Raise AgentError when ``source`` (an env or dataset) has frames the model cannot take
    (not square RGB) or other actions than the model was trained on."""
    if image_shape is not None:
        shape = tuple(image_shape)
        if len(shape) != 3 or shape[2] != 3 or shape[0] != shape[1]:
            raise AgentError(
                f"{source} has frames of shape {shape}; agents resize square RGB frames "
                f"(S, S, 3) to the model's {model_image_shape(model)[:2]}"
            )
    if not action_space:
        return
    wanted = model.config.action_space()
    same_kind = action_space.get("type") == wanted["type"]
    if wanted["type"] == "discrete":
        same = same_kind and int(action_space.get("n", -1)) == wanted["n"]
    else:
        same = same_kind and list(action_space.get("shape", [])) == wanted["shape"]
    if not same:
        raise AgentError(
            f"{source} has actions {_space_text(action_space)} but the world model was trained "
            f"on {_space_text(wanted)}; use a checkpoint trained on this data or env"
        )


def _space_text(space: dict[str, Any]) -> str:
    if space.get("type") == "discrete":
        return f"Discrete({space.get('n')})"
    return f"Box{tuple(space.get('shape', ()))}"


def env_image_shape(env: Any) -> tuple[int, ...]:
    """Shape of the env's frames (the observation, or its ``image`` entry for Dict obs)."""
    space = env.observation_space
    if isinstance(space, gymnasium.spaces.Dict):
        space = space["image"]
    return tuple(space.shape)


def describe_space(space: gymnasium.spaces.Space) -> dict[str, Any]:
    from lsswm.collect.manifest import describe_action_space

    return describe_action_space(space)
