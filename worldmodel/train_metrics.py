"""Frame-quality metrics for training logs and the memory experiment: PSNR and SSIM.

Both take uint8 frames (..., H, W, 3) and return one value per frame. SSIM is the standard
Gaussian-window SSIM (Wang et al. 2004: window 11, sigma 1.5, K1 = 0.01, K2 = 0.03) on
[0, 1] pixels, averaged over the colour channels and the valid (unpadded) window positions,
as scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=-1)`` computes it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _to_unit(frames: Tensor) -> Tensor:
    return frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()


def psnr(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-frame PSNR in dB of (..., H, W, 3) uint8 frames (peak 1 on the [0, 1] scale)."""
    error = (_to_unit(prediction) - _to_unit(target)).pow(2).mean(dim=(-3, -2, -1))
    return 10.0 * torch.log10(1.0 / error.clamp(min=1e-10))


def _gaussian_window(size: int, sigma: float) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def ssim(prediction: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-frame SSIM of (..., H, W, 3) frames (uint8, or floats in [0, 1])."""
    lead = prediction.shape[:-3]
    height, width, channels = prediction.shape[-3:]
    size = min(window, height, width)
    size -= 1 - size % 2  # odd
    x = _to_unit(prediction).reshape(-1, height, width, channels).permute(0, 3, 1, 2)
    y = _to_unit(target).reshape(-1, height, width, channels).permute(0, 3, 1, 2)
    x, y = x.double(), y.double()
    kernel_1d = _gaussian_window(size, sigma)
    kernel = (kernel_1d[:, None] * kernel_1d[None, :]).expand(channels, 1, size, size)

    def blur(image: Tensor) -> Tensor:
        return F.conv2d(image, kernel, groups=channels)  # valid positions only

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return value.mean(dim=(1, 2, 3)).float().reshape(lead)
