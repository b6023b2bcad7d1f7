"""Per-frame image metrics for the evaluation suites.

PSNR and SSIM are implemented once, in ``lsswm.worldmodel.image_metrics`` (data range 255,
PSNR capped at 100 dB, scikit-image-compatible Gaussian SSIM; see that module); this module
bundles them per frame pair and says which direction is better. LPIPS and FVD need network
weights and live in ``perceptual.py``.
"""

from __future__ import annotations

import numpy as np
import torch

from lsswm.worldmodel.image_metrics import (  # noqa: F401  (re-exported for the suites)
    DATA_RANGE,
    PSNR_CAP_DB,
    gaussian_window,
    psnr,
    ssim,
)


def frame_metrics(
    prediction: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor
) -> dict[str, np.ndarray]:
    """{"psnr": (N,), "ssim": (N,)} for the frame pairs, (prediction, target) like every
    metric of the project."""
    return {"psnr": psnr(prediction, target), "ssim": ssim(prediction, target)}


# Which direction is better, for tables and reports.
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "fvd": False}
