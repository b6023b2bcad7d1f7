"""Optional metrics that need network weights: LPIPS (AlexNet) and FVD (I3D).

Nothing is ever downloaded. When the weights are not on this machine the metric is skipped
with a message saying exactly which files to put where; results then carry ``null`` and the
message in ``notes``.

LPIPS (Zhang et al. 2018, the "alex" variant, v0.1): frames scaled to [-1, 1], shifted and
scaled per channel by LPIPS's constants, the five ReLU outputs of AlexNet's convolutional
stack (torchvision's layout), each unit-normalised along channels, squared differences
weighted by LPIPS's learned 1x1 linear layers, averaged over space and summed over layers.
Two weight files are needed (both loaded with ``torch.load(weights_only=True)``):

* the AlexNet backbone, torchvision's ``alexnet-owt-7be5be79.pth`` (keys ``features.N.*``):
  found in ``--lpips-weights DIR`` or in torch hub's cache (``$TORCH_HOME/hub/checkpoints``,
  default ``~/.cache/torch/hub/checkpoints``), where torchvision leaves it;
* LPIPS's linear layers, ``alex.pth`` of the ``lpips`` project (``lpips/weights/v0.1/``,
  keys ``linK.model.1.weight``): found in ``--lpips-weights DIR`` or in an installed ``lpips``
  package (which is not imported).

FVD (Unterthiner et al. 2019): Frechet distance between Gaussians fitted to I3D features of
real and generated videos. The I3D network is the TorchScript detector used by StyleGAN-V and
fvd-comparison (``i3d_torchscript.pt``), given with ``--fvd-i3d PATH``; it is called as
``detector(videos, rescale=False, resize=True, return_features=True)`` on float videos
(B, 3, T, H, W) in [-1, 1]. FVD over few videos is strongly biased; the paper's supplement
uses hundreds.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lsswm.eval.errors import MetricUnavailable

ALEXNET_FILES = ("alexnet-owt-7be5be79.pth", "alexnet.pth")
LPIPS_LINEAR_FILE = "alex.pth"
# LPIPS's input normalisation (lpips.pretrained_networks.ScalingLayer).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
ALEXNET_CHANNELS = (64, 192, 384, 256, 256)


def torch_hub_checkpoints() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


def _installed_lpips_weights() -> Path | None:
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1"


def find_lpips_weights(directory: str | Path | None = None) -> tuple[Path, Path]:
    """(AlexNet backbone file, LPIPS linear-layer file), or MetricUnavailable saying why."""
    folders = [Path(directory)] if directory else []
    folders.append(torch_hub_checkpoints())
    backbone = next((f / n for f in folders for n in ALEXNET_FILES if (f / n).is_file()), None)
    linear_folders = [*([Path(directory)] if directory else []), _installed_lpips_weights()]
    linear = next(
        (f / LPIPS_LINEAR_FILE for f in linear_folders if f and (f / LPIPS_LINEAR_FILE).is_file()),
        None,
    )
    missing = []
    if backbone is None:
        missing.append(
            f"the AlexNet weights {ALEXNET_FILES[0]} (torchvision) in --lpips-weights DIR or "
            f"{torch_hub_checkpoints()}"
        )
    if linear is None:
        missing.append(
            f"the LPIPS linear weights {LPIPS_LINEAR_FILE} (lpips project, weights/v0.1/) in "
            "--lpips-weights DIR"
        )
    if missing:
        raise MetricUnavailable(
            "LPIPS skipped: it needs " + " and ".join(missing) + "; nothing is downloaded"
        )
    return backbone, linear  # type: ignore[return-value]


class AlexNetFeatures(nn.Module):
    """torchvision's AlexNet ``features`` stack, returning the five ReLU outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
        )
        self.taps = (1, 4, 7, 9, 11)  # indices of the ReLUs LPIPS reads

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
        return outputs


class Lpips(nn.Module):
    """LPIPS distance (AlexNet, v0.1) between uint8 frames (N, H, W, 3); lower is closer."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = AlexNetFeatures()
        self.linear = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in ALEXNET_CHANNELS)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))

    @classmethod
    def from_files(cls, backbone_path: str | Path, linear_path: str | Path) -> Lpips:
        model = cls()
        backbone = torch.load(backbone_path, map_location="cpu", weights_only=True)
        features = {k: v for k, v in backbone.items() if k.startswith("features.")}
        model.backbone.load_state_dict(features, strict=True)
        linear = torch.load(linear_path, map_location="cpu", weights_only=True)
        for index, layer in enumerate(model.linear):
            layer.weight.data.copy_(linear[f"lin{index}.model.1.weight"])
        return model.eval()

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Lpips:
        return cls.from_files(*find_lpips_weights(directory))

    @torch.no_grad()
    def forward(self, truth: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        def prepare(frames: torch.Tensor) -> torch.Tensor:
            images = frames.float().permute(0, 3, 1, 2) / 127.5 - 1.0
            return (images - self.shift) / self.scale

        total = torch.zeros(truth.size(0), device=truth.device)
        pairs = zip(self.backbone(prepare(truth)), self.backbone(prepare(generated)), strict=True)
        for layer, (a, b) in zip(self.linear, pairs, strict=True):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total += layer((a - b).pow(2)).mean(dim=(1, 2, 3))
        return total

    def distances(
        self, truth: np.ndarray, generated: np.ndarray, batch_size: int = 64
    ) -> np.ndarray:
        """Per-frame LPIPS for uint8 frames (N, H, W, 3)."""
        device = self.shift.device
        out = []
        for start in range(0, len(truth), batch_size):
            a = torch.as_tensor(np.asarray(truth[start : start + batch_size]), device=device)
            b = torch.as_tensor(np.asarray(generated[start : start + batch_size]), device=device)
            out.append(self(a, b).cpu())
        return torch.cat(out).numpy() if out else np.zeros(0)


def frechet_distance(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """||mu_a - mu_b||^2 + tr(A + B - 2 (A B)^(1/2)) for Gaussians (A, B covariances).

    tr((A B)^(1/2)) is the sum of the square roots of the eigenvalues of A B, which are real
    and non-negative for PSD A, B (tiny negative or imaginary parts are numerical noise)."""
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    difference = mean_a - mean_b
    return float(difference @ difference + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


class I3dFeatures:
    """The TorchScript I3D detector of the common FVD code, from a local file only."""

    def __init__(self, path: str | Path | None, device: str = "cpu") -> None:
        if not path or not Path(path).is_file():
            raise MetricUnavailable(
                "FVD skipped: it needs the I3D detector i3d_torchscript.pt (as used by "
                "StyleGAN-V / fvd-comparison) given with --fvd-i3d PATH; nothing is downloaded"
            )
        # A TorchScript archive holds no pickled Python code; the user names it explicitly.
        self.detector = torch.jit.load(str(path), map_location=device).eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, videos: list[np.ndarray]) -> np.ndarray:
        """Features (N, D) of uint8 videos, each (T, H, W, 3) with the same T."""
        batch = torch.as_tensor(np.stack(videos), device=self.device).float()
        batch = batch.permute(0, 4, 1, 2, 3) / 127.5 - 1.0  # (B, 3, T, H, W) in [-1, 1]
        features = self.detector(batch, rescale=False, resize=True, return_features=True)
        return features.cpu().numpy()


def fvd(real: list[np.ndarray], generated: list[np.ndarray], detector: I3dFeatures) -> float:
    """FVD between two sets of videos (same count, same length); needs at least 2 each."""
    if len(real) < 2:
        raise MetricUnavailable("FVD skipped: it needs at least 2 videos (use more --episodes)")
    length = min(len(v) for v in [*real, *generated])
    real_features = detector([v[:length] for v in real])
    generated_features = detector([v[:length] for v in generated])
    return frechet_distance(*gaussian_stats(real_features), *gaussian_stats(generated_features))
