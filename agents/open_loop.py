"""Open-loop imagination from every point of a real episode, as a planner sees it.

One stream observes the whole real episode (as the planning agent's stream does); after
frame ``s`` of every start ``s`` (from ``min_context - 1`` on, every ``stride``-th frame) its
state is kept, and the model imagines frames ``s+1..s+H`` from it with the real actions.
Rows must be at the same point of the chunk cycle to share one stream, so the kept states
are grouped by chunk phase and each group is imagined as one batch.

Used to score reward prediction ahead of time (``lsswm eval reward``) and to build the
training set of the critic regressed on real returns (``agents.critic_returns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class OpenLoop:
    starts: np.ndarray  # (S,) int64: row i imagines frames starts[i] + 1 .. starts[i] + H
    rewards: np.ndarray  # (S, H) float32: predicted reward of frame starts[i] + k (column k-1)
    inputs: np.ndarray | None  # (S, H, dim) float32 critic inputs (``keep``), when asked for


@torch.no_grad()
def open_loop(
    model: Any,
    frames: np.ndarray,
    actions: np.ndarray,
    horizon: int,
    min_context: int,
    stride: int,
    denoising_steps: int | None,
    generator: torch.Generator,
    device: str | torch.device = "cpu",
    keep: str | None = None,
) -> OpenLoop:
    """Imagine ``horizon`` frames with the real actions from every start of one episode.

    ``frames`` (T, H, W, 3) uint8 at any size (resized to the model's), ``actions`` (T,) with
    ``actions[t]`` leading to frame t. ``keep`` (``agents.critic.CRITIC_INPUTS``) also keeps
    what a critic reads of each imagined frame (for "trajectory", of the path from the first
    imagined frame to it)."""
    from lsswm.agents.critic import critic_input_width, critic_inputs
    from lsswm.agents.model_io import to_model_frames
    from lsswm.worldmodel.stream import WorldModelStream

    frames_t = torch.as_tensor(to_model_frames(frames, model), device=device)
    actions_t = torch.as_tensor(actions, device=device)
    last = len(frames_t) - 1 - horizon
    starts = [s for s in range(min_context - 1, last + 1) if (s - min_context + 1) % stride == 0]
    dim = critic_input_width(model.config, keep or "features", horizon)
    if not starts:
        empty = np.zeros((0, horizon, dim), np.float32) if keep else None
        return OpenLoop(np.zeros(0, np.int64), np.zeros((0, horizon), np.float32), empty)
    commit = model.config.commit_frames
    stream = model.start_stream(1)
    by_phase: dict[int, list[tuple[int, Any]]] = {}
    observed = 0
    for start in starts:
        stream.observe_frames(
            frames_t[None, observed : start + 1], actions_t[None, observed : start + 1]
        )
        observed = start + 1
        by_phase.setdefault(observed % commit, []).append((start, stream.clone()))
    rewards = np.zeros((len(starts), horizon), np.float32)
    inputs = np.zeros((len(starts), horizon, dim), np.float32) if keep else None
    row_of = {s: i for i, s in enumerate(starts)}
    for rows in by_phase.values():
        batch = WorldModelStream.concat([state for _, state in rows])
        future = torch.stack([actions_t[s + 1 : s + 1 + horizon] for s, _ in rows])
        out = batch.imagine(future, denoising_steps, generator=generator, decode=False)
        index = [row_of[start] for start, _ in rows]
        rewards[index] = out.rewards.float().cpu().numpy()
        if inputs is not None and keep is not None:
            inputs[index] = critic_inputs(out, keep, frames=horizon).cpu().numpy()
    return OpenLoop(np.asarray(starts, np.int64), rewards, inputs)
