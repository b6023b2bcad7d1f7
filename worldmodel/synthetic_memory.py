"""A synthetic recall task for world models: a camera turning in place among fixed views.

The video counterpart of associative recall. Each episode draws `n_views` random latent grids,
one per heading on a circle. A camera turns one heading per frame (left or right; it keeps
its direction and reverses with probability `reverse_prob`), so every view recurs: after a
full turn (`n_views` frames, more than an attention window) or sooner after a reversal.

With `view_drift` > 0 the views are windows onto one panorama and every full turn overshoots
by `view_drift` tokens, as a Memory Maze turn of 20 steps (368 degrees) does: a view then
recurs shifted by a fraction of a token (linearly interpolated), so recall must realign it
rather than copy it. A view is then the nearest of the `n_views` headings.

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
    view_drift: float = 0.0  # tokens a full turn overshoots by; 0: views recur exactly

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
    turned = start[:, None] + torch.cumsum(steps, dim=1)  # headings turned, not wrapped
    if task.view_drift:
        latents, columns = drifting_views(views, turned, task.view_drift)
        headings = torch.round(columns / task.width).long() % task.n_views
        angle = columns * (2 * math.pi / (task.n_views * task.width))
    else:
        headings = turned % task.n_views
        latents = views[torch.arange(batch)[:, None], headings]
        angle = headings.float() * (2 * math.pi / task.n_views)
    if task.action_kind == "pose":
        actions = torch.stack([angle.cos(), angle.sin()], dim=-1)
    elif task.action_kind == "discrete":
        actions = (steps > 0).long()  # frame 0 has no turn; its action is "left" by convention
    else:
        raise ValueError(f"action_kind must be 'pose' or 'discrete' (got {task.action_kind!r})")
    return TurnBatch(latents, actions, headings, frames_since_last_seen(headings))


def drifting_views(views: Tensor, turned: Tensor, drift: float) -> tuple[Tensor, Tensor]:
    """Windows onto a panorama: the n views (B, n, h, w, C) side by side make a (B, h, n*w, C)
    strip (with drift 0 the windows are the views themselves). Each heading step moves the
    window by w + drift / n columns from the first frame's, so a full turn overshoots by
    `drift` columns; fractional columns are linearly interpolated. turned: (B, T) headings,
    not wrapped (the first frame's is the starting heading).
    Returns the views (B, T, h, w, C) and each window's first column (B, T), in [0, n*w)."""
    batch, n_views, height, width, _ = views.shape
    strip = views.permute(0, 2, 1, 3, 4).reshape(batch, height, n_views * width, -1)
    total = n_views * width
    steps = (turned - turned[:, :1]).double()
    columns = (turned.double() * width + steps * (drift / n_views)) % total
    left = columns.floor().long()
    weight = (columns - left).float()[..., None, None, None]  # (B, T, 1, 1, 1)
    offsets = torch.arange(width)
    index = (left[..., None] + offsets) % total  # (B, T, w)
    rows = torch.arange(batch)[:, None, None]
    lower = strip[rows, :, index]  # (B, T, w, h, C)
    upper = strip[rows, :, (index + 1) % total]
    window = ((1 - weight) * lower + weight * upper).transpose(2, 3)  # (B, T, h, w, C)
    return window.contiguous(), columns.float()


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
