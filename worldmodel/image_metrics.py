"""Per-frame image metrics: PSNR and SSIM (own implementations), batched in PyTorch.

Frames are uint8 (..., H, W, 3) arrays or tensors on the [0, 255] scale (data range 255).

* PSNR = 10 log10(255^2 / MSE), MSE over all pixels and channels of one frame. Identical
  frames would give +inf; we cap PSNR at ``PSNR_CAP_DB`` (100 dB) so means stay finite and
  JSON stays standard.
* SSIM as Wang et al. (2004) and scikit-image's ``structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
  channel_axis=-1)``: local statistics under an 11-tap Gaussian window (sigma 1.5, truncated
  at 3.5 sigma), K1 = 0.01, K2 = 0.03, population covariances, the SSIM map averaged over the
  pixels whose window lies fully inside the image (scikit-image crops (win-1)/2 pixels at
  every border), then averaged over the colour channels. Computed in float64; agrees with
  scikit-image to about 1e-9 (tests/test_eval_metrics.py).

This is the one PSNR/SSIM implementation: training logs and the memory experiment
(``train/metrics.py``) and the evaluation suites (``lsswm.eval.metrics``) all use it. LPIPS and
FVD need network weights and live in ``lsswm.eval.perceptual``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

DATA_RANGE = 255.0
PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _as_float_frames(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(..., H, W, C) -> float64 tensor (N, H, W, C) on the [0, 255] scale."""
    tensor = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
    if tensor.dim() < 3:
        raise ValueError(f"frames must be (..., H, W, C), got shape {tuple(tensor.shape)}")
    return tensor.detach().cpu().to(torch.float64).reshape(-1, *tensor.shape[-3:])


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(
            f"predicted {tuple(prediction.shape)} and target {tuple(target.shape)} frames "
            "differ in shape"
        )


def psnr(
    prediction: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    *,
    data_range: float = DATA_RANGE,
    cap_db: float = PSNR_CAP_DB,
) -> np.ndarray:
    """PSNR in dB per frame, (N,) for frames (..., H, W, C); capped at cap_db.
    Arguments in the project's one order for metrics: (prediction, target). uint8 frames are
    on the [0, 255] scale; pass data_range for other scales (e.g. latents)."""
    a, b = _as_float_frames(prediction), _as_float_frames(target)
    _check_pair(a, b)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    floor = data_range**2 / 10 ** (cap_db / 10)
    return (10 * torch.log10(data_range**2 / mse.clamp(min=floor))).numpy()


def gaussian_window(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> torch.Tensor:
    """The normalised 1-D Gaussian taps of scipy.ndimage (radius int(truncate*sigma + 0.5))."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def _valid_blur(images: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of (N, C, H, W), keeping only fully-inside windows."""
    channels = images.size(1)
    k = taps.numel()
    rows = taps.view(1, 1, k, 1).expand(channels, 1, k, 1)
    cols = taps.view(1, 1, 1, k).expand(channels, 1, 1, k)
    return F.conv2d(F.conv2d(images, rows, groups=channels), cols, groups=channels)


def ssim(
    prediction: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    data_range: float = DATA_RANGE,
) -> np.ndarray:
    """Channel-averaged Gaussian-window SSIM per frame, (N,) for frames (..., H, W, C).

    The frame must be at least 11 pixels on each side (the window size). Arguments in the
    project's one order for metrics: (prediction, target)."""
    a, b = _as_float_frames(prediction), _as_float_frames(target)
    _check_pair(a, b)
    taps = gaussian_window()
    if min(a.shape[1], a.shape[2]) < taps.numel():
        raise ValueError(
            f"SSIM needs frames of at least {taps.numel()}x{taps.numel()} pixels, got "
            f"{a.shape[1]}x{a.shape[2]}"
        )
    x, y = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _valid_blur(x, taps), _valid_blur(y, taps)
    var_x = _valid_blur(x * x, taps) - mu_x * mu_x
    var_y = _valid_blur(y * y, taps) - mu_y * mu_y
    cov_xy = _valid_blur(x * y, taps) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    per_channel = (numerator / denominator).mean(dim=(2, 3))
    return per_channel.mean(dim=1).numpy()
