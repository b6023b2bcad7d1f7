"""A synthetic recall task for world models: a camera turning in place among fixed views.

The video counterpart of associative recall. Each episode draws `n_views` random latent grids,
one per heading on a circle. A camera turns one heading per frame (left or right; it keeps
its direction and reverses with probability `reverse_prob`), so every view recurs: after a
full turn (`n_views` frames, more than an attention window) or sooner after a reversal.

The action is either the camera pose (cos, sin of the heading: continuous, as the paper
conditions Memory Maze) or the discrete turn (0 = left, 1 = right), which leaves it to the
model to integrate its heading. A model that remembers predicts a recurring view exactly; one
that does not can only predict the mean view (0), which scores `CHANCE_PSNR`.

Everything is latent: no env and no tokenizer, only the real WorldModel and its loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from lsswm.worldmodel.image_metrics import psnr

# Views are uniform in [-sqrt(3), sqrt(3)] (unit variance, like normalised tokenizer latents);
# PSNR uses that range, so predicting the mean view (MSE 1) scores 20*log10(2*sqrt(3)).
VIEW_RANGE = 2.0 * math.sqrt(3.0)
CHANCE_PSNR = 20.0 * math.log10(VIEW_RANGE)
LATENT_CAP_DB = 10.0 * math.log10(VIEW_RANGE**2 / 1e-5)
NEVER_SEEN = -1


@dataclass(frozen=True)
class TurnTask:
    n_views: int = 12  # headings per full turn: a view recurs n_views frames later
    frames: int = 36
    height: int = 2
    width: int = 2
    channels: int = 8
    reverse_prob: float = 0.0
    action_kind: str = "pose"  # "pose" (cos, sin of the heading) or "discrete" (left/right)

    @property
    def action_size(self) -> int:
        return 2

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


@dataclass
class TurnBatch:
    latents: Tensor  # (B, T, h, w, C)
    actions: Tensor  # (B, T, 2) float pose, or (B, T) int64 turn
    headings: Tensor  # (B, T) int64
    last_seen: Tensor  # (B, T) frames since this heading was last shown, NEVER_SEEN if never


def make_batch(task: TurnTask, batch: int, generator: torch.Generator) -> TurnBatch:
    """A batch of episodes, drawn only from `generator` (same seed, same batch)."""
    views = (torch.rand(batch, task.n_views, *task.latent_shape, generator=generator) * 2 - 1) * (
        VIEW_RANGE / 2
    )
    start = torch.randint(task.n_views, (batch,), generator=generator)
    direction = torch.where(torch.rand(batch, generator=generator) < 0.5, -1, 1)
    reverse = torch.rand(batch, task.frames, generator=generator) < task.reverse_prob
    steps = torch.empty(batch, task.frames, dtype=torch.long)
    steps[:, 0] = 0
    for t in range(1, task.frames):
        direction = torch.where(reverse[:, t], -direction, direction)
        steps[:, t] = direction
    headings = (start[:, None] + torch.cumsum(steps, dim=1)) % task.n_views
    latents = views[torch.arange(batch)[:, None], headings]
    if task.action_kind == "pose":
        angle = headings.float() * (2 * math.pi / task.n_views)
        actions = torch.stack([angle.cos(), angle.sin()], dim=-1)
    elif task.action_kind == "discrete":
        actions = (steps > 0).long()  # frame 0 has no turn; its action is "left" by convention
    else:
        raise ValueError(f"action_kind must be 'pose' or 'discrete' (got {task.action_kind!r})")
    return TurnBatch(latents, actions, headings, frames_since_last_seen(headings))


def frames_since_last_seen(headings: Tensor, seen_until: int | None = None) -> Tensor:
    """(B, T) int keys -> (B, T) frames since the same key last occurred (NEVER_SEEN if not).

    seen_until: only frames before this index count as sightings (e.g. the clean context of
    a probe whose later frames are all noised); default: every earlier frame."""
    frames = headings.size(1)
    index = torch.arange(frames)
    same = headings[:, :, None] == headings[:, None, :]  # [b, t, s]
    earlier = index[None, :] < index[:, None]  # s < t
    if seen_until is not None:
        earlier = earlier & (index[None, :] < seen_until)
    last = torch.where(same & earlier, index[None, None, :], -1).amax(dim=-1)
    return torch.where(last >= 0, index[None, :] - last, NEVER_SEEN)


def latent_psnr(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-frame PSNR (..., h, w, C) -> (...) over the views' range, MSE floored at 1e-5 (a
    50.8 dB ceiling): the project's one PSNR (image_metrics.psnr) on latents."""
    values = psnr(prediction.detach(), target.detach(), data_range=VIEW_RANGE, cap_db=LATENT_CAP_DB)
    return torch.from_numpy(values).float().reshape(prediction.shape[:-3])
