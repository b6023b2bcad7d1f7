"""Optional perceptual metrics: LPIPS (the ``lpips`` package, AlexNet) and FVD (I3D).

Both need extra weights. When they are missing the metric is skipped with a message saying
what is missing and where it would be found; results then carry ``null`` and the message
in ``notes``.

LPIPS (Zhang et al. 2018, the "alex" variant, v0.1) is computed by the ``lpips`` package
(``pip install 'lsswm[metrics]'``: lpips + torchvision). Its learned linear layers ship
inside the package (``lpips/weights/v0.1/alex.pth``). Its AlexNet backbone is torchvision's
ImageNet AlexNet, ``alexnet-owt-7be5be79.pth``, looked up in ``--lpips-weights DIR``, then in
torch hub's cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``);
when absent there, torchvision downloads it into that cache (233 MB, once). Offline and not
cached, LPIPS is skipped with a message naming the file and the cache folder. A folder given
with ``--lpips-weights`` may also hold an ``alex.pth`` that replaces the package's linear
layers. All weight files load with ``torch.load(weights_only=True)``.

FVD (Unterthiner et al. 2019): Frechet distance between Gaussians fitted to I3D features of
real and generated videos. The detector is ``i3d_torchscript.pt``, the TorchScript port of
the TF-Hub Kinetics-400 I3D that StyleGAN-V (``src/metrics/frechet_video_distance.py``) and
universome/fvd-comparison download from
https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1 . lsswm never downloads it:
pass the file with ``--fvd-i3d PATH``. It is called as StyleGAN-V calls it,
``detector(videos, rescale=False, resize=True, return_features=True)`` on float videos
(B, 3, T, H, W) in [-1, 1] (it resizes to 224x224 itself) and returns 400-d features per
video. FVD over few videos is strongly biased; the paper's supplement uses hundreds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsswm.eval.errors import MetricUnavailable

ALEXNET_FILES = ("alexnet-owt-7be5be79.pth", "alexnet.pth")
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
LPIPS_LINEAR_FILE = "alex.pth"
METRICS_EXTRA = "pip install 'lsswm[metrics]'"


def torch_hub_checkpoints() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


def import_lpips() -> tuple[Any, Any]:
    """The ``lpips`` and ``torchvision`` modules, or MetricUnavailable saying how to get them."""
    try:
        import lpips
        import torchvision
    except Exception as error:  # ImportError, or a torchvision built for another torch
        raise MetricUnavailable(
            f"LPIPS skipped: it needs the optional packages lpips and torchvision "
            f"(`{METRICS_EXTRA}`, torchvision built for torch {torch.__version__}); "
            f"importing them failed: {type(error).__name__}: {error}"
        ) from error
    return lpips, torchvision


def _download_alexnet() -> dict[str, torch.Tensor]:
    """torchvision's download of the ImageNet AlexNet into torch hub's cache."""
    _, torchvision = import_lpips()
    weights = torchvision.models.AlexNet_Weights.IMAGENET1K_V1
    return weights.get_state_dict(progress=False, check_hash=True)


def alexnet_state(
    directory: str | Path | None = None,
    download: Callable[[], dict[str, torch.Tensor]] = _download_alexnet,
) -> dict[str, torch.Tensor]:
    """torchvision's AlexNet weights: from ``directory``, else torch hub's cache, else
    downloaded into that cache; MetricUnavailable (what is missing, where it would be
    cached, that LPIPS is skipped) when offline and absent."""
    folders = [*([Path(directory)] if directory else []), torch_hub_checkpoints()]
    for folder in folders:
        for name in ALEXNET_FILES:
            if (folder / name).is_file():
                return torch.load(folder / name, map_location="cpu", weights_only=True)
    try:
        return download()
    except MetricUnavailable:
        raise
    except Exception as error:  # offline: URLError, OSError, ...
        raise MetricUnavailable(
            f"LPIPS skipped: the AlexNet backbone weights {ALEXNET_FILES[0]} are not in "
            f"{torch_hub_checkpoints()} (torch hub's cache, where torchvision keeps them) "
            + (f"or {directory} " if directory else "")
            + f"and downloading {ALEXNET_URL} failed ({type(error).__name__}: {error}); "
            "put the file in that cache folder (or pass --lpips-weights DIR) to get LPIPS"
        ) from error


def find_lpips_weights(directory: str | Path | None = None) -> tuple[Path | None, Path | None]:
    """(AlexNet file, LPIPS linear-layer file) found locally (``directory``, then torch hub's
    cache for AlexNet); None for what is not here (the package's own linear layers are used,
    and AlexNet is downloaded)."""
    folders = [*([Path(directory)] if directory else []), torch_hub_checkpoints()]
    backbone = next((f / n for f in folders for n in ALEXNET_FILES if (f / n).is_file()), None)
    linear = Path(directory) / LPIPS_LINEAR_FILE if directory else None
    return backbone, linear if linear is not None and linear.is_file() else None


class Lpips(nn.Module):
    """LPIPS distance (``lpips.LPIPS``, AlexNet, v0.1) between uint8 frames (N, H, W, 3)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network.eval()

    @classmethod
    def load(
        cls,
        directory: str | Path | None = None,
        download: Callable[[], dict[str, torch.Tensor]] = _download_alexnet,
    ) -> Lpips:
        lpips, torchvision = import_lpips()
        _, linear = find_lpips_weights(directory)
        state = alexnet_state(directory, download)
        # pnet_rand: lpips must not fetch AlexNet itself; we load the weights found above.
        network = lpips.LPIPS(
            net="alex",
            version="0.1",
            pretrained=True,
            pnet_rand=True,
            model_path=str(linear) if linear else None,
            verbose=False,
        )
        if linear is not None:  # the package loads with strict=False; be strict here
            layers = torch.load(linear, map_location="cpu", weights_only=True)
            network.lins.load_state_dict(
                {k.replace("lin", "", 1): v for k, v in layers.items()}, strict=True
            )
        features = torchvision.models.alexnet().features
        features.load_state_dict(
            {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")},
            strict=True,
        )
        # lpips slices torchvision's features stack; each child keeps its index as its name.
        for index in range(1, 6):
            for name, layer in getattr(network.net, f"slice{index}").named_children():
                layer.load_state_dict(features[int(name)].state_dict())
        return cls(network)

    @torch.no_grad()
    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        def prepare(frames: torch.Tensor) -> torch.Tensor:
            return frames.float().permute(0, 3, 1, 2) / 127.5 - 1.0

        return self.network(prepare(prediction), prepare(target)).reshape(-1)

    def distances(
        self, prediction: np.ndarray, target: np.ndarray, batch_size: int = 64
    ) -> np.ndarray:
        """Per-frame LPIPS for uint8 frames (N, H, W, 3), (prediction, target) like every
        metric of the project."""
        device = next(self.parameters()).device
        out = []
        for start in range(0, len(prediction), batch_size):
            a = torch.as_tensor(np.asarray(prediction[start : start + batch_size]), device=device)
            b = torch.as_tensor(np.asarray(target[start : start + batch_size]), device=device)
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
                "FVD skipped: it needs the I3D detector i3d_torchscript.pt (StyleGAN-V's, "
                "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1) given "
                "with --fvd-i3d PATH; lsswm does not download it"
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
