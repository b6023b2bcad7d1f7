"""PSNR / SSIM against scikit-image, and the optional LPIPS / FVD machinery."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from lsswm.eval.errors import MetricUnavailable
from lsswm.eval.metrics import PSNR_CAP_DB, psnr, ssim
from lsswm.eval.perceptual import (
    I3dFeatures,
    Lpips,
    alexnet_state,
    frechet_distance,
    gaussian_stats,
    import_lpips,
)


def lpips_packages():
    """(lpips, torchvision), or skip: they are the optional extra lsswm[metrics], which
    scripts/test.sh does not install, because its torchvision must be the build made for the
    installed torch. For CPU torch that build comes only from download.pytorch.org, and a
    machine that reaches only PyPI gets the CUDA build, which cannot load beside CPU torch."""
    try:
        return import_lpips()
    except MetricUnavailable as error:
        pytest.skip(
            "the [metrics] extra (lpips + torchvision built for this torch) is not installed "
            f"here; a CPU torchvision comes only from download.pytorch.org ({error})"
        )


def fixed_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Three 64x64 RGB pairs: noise, a smooth gradient with blocks, a darkened copy."""
    rng = np.random.default_rng(1234)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    y, x = np.mgrid[0:64, 0:64]
    gradient = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    blocks = gradient.copy()
    blocks[16:40, 8:30] = (200, 30, 90)
    truth = np.stack([noise, gradient, blocks])
    jitter = rng.integers(-30, 31, truth.shape)
    generated = np.stack(
        [
            (truth[0] + jitter[0]).clip(0, 255),
            (truth[1] * 0.7).clip(0, 255),
            np.roll(truth[2], 3, axis=1),
        ]
    ).astype(np.uint8)
    return truth, generated


def test_psnr_matches_scikit_image():
    truth, generated = fixed_pairs()
    ours = psnr(generated, truth)  # (prediction, target); skimage takes (true, test)
    reference = [
        peak_signal_noise_ratio(t, g, data_range=255) for t, g in zip(truth, generated, strict=True)
    ]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)


def reference_ssim(truth, generated):
    """scikit-image's SSIM per frame with the Gaussian window of Wang et al. (our settings)."""
    return [
        structural_similarity(
            t,
            g,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=-1,
        )
        for t, g in zip(truth, generated, strict=True)
    ]


def test_ssim_matches_scikit_image_gaussian_window():
    truth, generated = fixed_pairs()
    ours = ssim(generated, truth)
    np.testing.assert_allclose(ours, reference_ssim(truth, generated), rtol=0, atol=1e-9)
    # A non-square region (Crafter's 14x63 inventory strip) as well.
    np.testing.assert_allclose(
        ssim(generated[:, 49:63, :63], truth[:, 49:63, :63]),
        reference_ssim(truth[:, 49:63, :63], generated[:, 49:63, :63]),
        atol=1e-9,
    )


def test_identical_frames_give_capped_psnr_and_unit_ssim():
    truth, _ = fixed_pairs()
    assert np.all(psnr(truth, truth) == PSNR_CAP_DB)
    np.testing.assert_allclose(ssim(truth, truth), 1.0, atol=1e-12)


def test_metrics_take_leading_dims_and_tensors():
    truth, generated = fixed_pairs()
    as_episode = torch.from_numpy(np.stack([truth, generated]))  # (2, 3, H, W, 3)
    out = ssim(as_episode, torch.from_numpy(np.stack([generated, truth])))
    assert out.shape == (6,)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(generated[:, :32], truth)


def test_lpips_offline_without_alexnet_says_what_is_missing_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline():
        raise OSError("network is unreachable")

    with pytest.raises(MetricUnavailable) as raised:
        alexnet_state(tmp_path / "empty", download=offline)
    message = str(raised.value)
    assert message.startswith("LPIPS skipped")
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "network is unreachable" in message
    # Cached: found without downloading.
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(1)}, cache / "alexnet-owt-7be5be79.pth")
    assert set(alexnet_state(None, download=offline)) == {"features.0.weight"}


def test_lpips_without_its_packages_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_lpips(name, *args, **kwargs):
        if name == "lpips":
            raise ImportError("No module named 'lpips'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lpips)
    with pytest.raises(MetricUnavailable, match=r"LPIPS skipped.*lsswm\[metrics\]"):
        Lpips.load(None)


def test_lpips_package_wiring_with_weight_files_made_here(tmp_path, monkeypatch):
    # Random weights in the real files' layouts (torchvision's AlexNet, lpips's linear
    # layers), saved here: checks that lsswm hands them to the lpips package and scores
    # uint8 frames like lpips.LPIPS on [-1, 1] tensors (not the published values).
    lpips, torchvision = lpips_packages()
    torch.manual_seed(0)
    alexnet = torchvision.models.alexnet()
    torch.save(alexnet.state_dict(), tmp_path / "alexnet-owt-7be5be79.pth")
    channels = (64, 192, 384, 256, 256)
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(channels)}
    torch.save(lins, tmp_path / "alex.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nowhere"))

    def no_download():
        raise AssertionError("must not download: the weights are local")

    metric = Lpips.load(tmp_path, download=no_download)
    truth, generated = fixed_pairs()
    same = metric.distances(truth, truth)
    different = metric.distances(generated, truth)
    np.testing.assert_allclose(same, 0.0, atol=1e-6)
    assert np.all(different > 1e-4)
    reference = lpips.LPIPS(net="alex", pnet_rand=True, model_path=str(tmp_path / "alex.pth"))
    for index in range(1, 6):
        for name, layer in getattr(reference.net, f"slice{index}").named_children():
            layer.load_state_dict(alexnet.features[int(name)].state_dict())
    as_tensor = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1  # noqa: E731
    expected = reference.eval()(as_tensor(truth), as_tensor(generated)).reshape(-1)
    np.testing.assert_allclose(different, expected.detach().numpy(), rtol=1e-5)


def test_frechet_distance_of_gaussians():
    mean = np.array([1.0, -2.0])
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert frechet_distance(mean, cov, mean, cov) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2.
    one = frechet_distance(np.array([0.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]]))
    assert one == pytest.approx(9.0 + 1.0)
    features = np.random.default_rng(0).normal(size=(500, 3))
    mean_hat, cov_hat = gaussian_stats(features)
    assert mean_hat.shape == (3,) and cov_hat.shape == (3, 3)


def test_fvd_without_detector_is_skipped_with_a_message():
    with pytest.raises(MetricUnavailable, match=r"i3d_torchscript\.pt"):
        I3dFeatures(None)
