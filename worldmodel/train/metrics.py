"""Frame-quality metrics for training logs and the memory experiment: PSNR and SSIM.

Thin tensor adapters over the one implementation in ``image_metrics.py``: frames (..., H, W, 3)
as uint8 or floats in [0, 1], one value per frame returned as a float tensor of the leading
shape. SSIM is scale-invariant when its constants scale with the data range, so [0, 1] floats
are scored on the [0, 255] scale with identical results.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lsswm.worldmodel import image_metrics


def _to_255(frames: Tensor) -> Tensor:
    return frames.double() if frames.dtype == torch.uint8 else frames.double() * 255.0


def psnr(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-frame PSNR in dB of (..., H, W, 3) frames."""
    values = image_metrics.psnr(_to_255(prediction), _to_255(target))
    return torch.from_numpy(values).float().reshape(prediction.shape[:-3])


def ssim(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-frame SSIM of (..., H, W, 3) frames (at least 11x11 pixels)."""
    values = image_metrics.ssim(_to_255(prediction), _to_255(target))
    return torch.from_numpy(values).float().reshape(prediction.shape[:-3])
