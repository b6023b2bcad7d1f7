"""A stand-in for a trained world model, for tests, docs and smoke runs.

:class:`KnownRewardStandIn` is NOT a learned model: a ball on a line of ``size`` cells, the
actions stay / right / left, and a reward and termination that are known functions of the
cell, behind the same streaming interface as the world model (``start_stream``,
``observe_frames``, ``imagine``, ``select``, ``clone``, ``assign``). The best action sequence
can be found by enumeration, so a planner can be tested against it. (A tiny random-init world
model for tests is ``make_tiny_frame_model`` in tests/conftest.py.)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lsswm.worldmodel.stream import Imagination

STAY, RIGHT, LEFT = 0, 1, 2
_MOVES = {STAY: 0, RIGHT: 1, LEFT: -1}


@dataclass(frozen=True)
class StandInConfig:
    """The few config fields agents read from a world model."""

    action_kind: str = "discrete"
    action_size: int = 3
    commit_frames: int = 1
    kv_cache_frames: int | None = 0
    denoising_steps: int = 1
    variant: str = "known-reward stand-in"


class KnownRewardStandIn:
    """Ball on a line: action 0 stays, 1 moves right, 2 left (clamped to [0, size)).

    On arriving in cell ``c`` the reward is ``rewards[c]`` and the episode terminates with
    probability 1 when ``c`` is in ``pits``. Frames encode the cell: ``frame[0, 0, 0] == c``
    (so ``observe_frames`` can read a state back from pixels).
    """

    def __init__(self, rewards: list[float], pits: tuple[int, ...] = ()) -> None:
        self.cell_rewards = torch.tensor(rewards, dtype=torch.float32)
        self.pit = torch.zeros(len(rewards), dtype=torch.bool)
        self.pit[list(pits)] = True
        self.size = len(rewards)
        self.config = StandInConfig()

    def start_stream(self, batch_size: int) -> KnownRewardStream:
        return KnownRewardStream(self, torch.zeros(batch_size, dtype=torch.long))

    def frame_of(self, cell: int, image_size: int = 8) -> np.ndarray:
        frame = np.zeros((image_size, image_size, 3), dtype=np.uint8)
        frame[0, 0, 0] = cell
        return frame

    def best_return(self, start: int, horizon: int, discount: float = 1.0) -> float:
        """Best predicted return over every action sequence (enumeration, for tests)."""
        best = -np.inf
        for code in range(3**horizon):
            sequence = [(code // 3**t) % 3 for t in range(horizon)]
            best = max(best, self.sequence_return(start, sequence, discount))
        return float(best)

    def sequence_return(self, start: int, actions: list[int], discount: float = 1.0) -> float:
        cell, total, weight = start, 0.0, 1.0
        for action in actions:
            cell = min(max(cell + _MOVES[int(action)], 0), self.size - 1)
            total += weight * float(self.cell_rewards[cell])
            if self.pit[cell]:
                break
            weight *= discount
        return total


class KnownRewardStream:
    def __init__(self, model: KnownRewardStandIn, cells: Tensor) -> None:
        self.model = model
        self.cells = cells
        self.batch_size = len(cells)
        self.frames_seen = 0

    def observe_frames(self, frames: Tensor, actions: Tensor) -> None:
        self.cells = torch.as_tensor(frames)[:, -1, 0, 0, 0].long()
        self.frames_seen += frames.shape[1]

    def imagine(
        self, actions: Tensor, denoising_steps: int | None = None, **sampler: Any
    ) -> Imagination:
        """WorldModelStream.imagine for known moves; there is no sampler for ``denoising_steps``
        and the ``sampler`` options (eta, generator, decode, shared_noise) to act on."""
        moves = torch.tensor([_MOVES[a] for a in range(3)])
        cells, rewards, terminations = [], [], []
        cell = self.cells
        for step in range(actions.shape[1]):
            cell = (cell + moves[actions[:, step].long()]).clamp(0, self.model.size - 1)
            cells.append(cell)
            rewards.append(self.model.cell_rewards[cell])
            terminations.append(self.model.pit[cell].float())
        self.cells = cell
        self.frames_seen += actions.shape[1]
        latents = torch.stack(cells, 1).float()[:, :, None, None, None]
        # Features: one-hot cells, so a critic can value places (tests of value bootstrap).
        features = torch.nn.functional.one_hot(torch.stack(cells, 1), self.model.size).float()
        return Imagination(
            latents, torch.stack(rewards, 1), torch.stack(terminations, 1), features=features
        )

    def clone(self) -> KnownRewardStream:
        new = copy.copy(self)
        new.cells = self.cells.clone()
        return new

    def select(self, index: Tensor | list[int]) -> KnownRewardStream:
        new = copy.copy(self)
        new.cells = self.cells[torch.as_tensor(index, dtype=torch.long)]
        new.batch_size = len(new.cells)
        return new

    def assign(self, index: Tensor | list[int], source: KnownRewardStream) -> None:
        self.cells[torch.as_tensor(index, dtype=torch.long)] = source.cells
