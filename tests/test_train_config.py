"""Training configs: presets, command-line overrides, JSON round trip, metrics, batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsswm.worldmodel.sizing import count_parameters
from lsswm.worldmodel.train.config import (
    TOKENIZER_PRESETS,
    TRAIN_PRESETS,
    Stage,
    TokenizerTrainConfig,
    TrainConfig,
    TrainConfigError,
    apply_overrides,
    config_differences,
    config_from_dict,
    config_to_dict,
    tokenizer_preset,
    train_preset,
    validate_tokenizer_train_config,
    validate_train_config,
)


@pytest.mark.parametrize("name", TRAIN_PRESETS)
def test_train_presets_validate_and_round_trip(name):
    config = train_preset(name)
    validate_train_config(config)
    assert config_from_dict(TrainConfig, config_to_dict(config)) == config


@pytest.mark.parametrize("name", TOKENIZER_PRESETS)
def test_tokenizer_presets_validate_and_round_trip(name):
    config = tokenizer_preset(name)
    validate_tokenizer_train_config(config)
    assert config_from_dict(TokenizerTrainConfig, config_to_dict(config)) == config


def test_paper_preset_is_about_200m_parameters_with_its_curriculum():
    config = train_preset("paper")
    # 64x64 frames, patch 8 -> 8x8 latent grid; 6 discrete Memory Maze actions.
    model = config.model.replace(latent_height=8, latent_width=8, latent_channels=192)
    assert 170e6 < count_parameters(model) < 230e6
    assert [stage.frames for stage in config.curriculum] == [400, 800]


def test_overrides_parse_by_field_type():
    config = apply_overrides(
        train_preset("tiny"),
        [
            "optim.lr=3e-4",
            "optim.betas=0.8,0.95",
            "model.d_model=96",
            "model.scan_blocks=2x2,4x4",
            "curriculum=8:10:2,16:5:1",
            "log.progress=false",
            "data.actions=pose",
            "seed=7",
        ],
    )
    assert config.optim.lr == 3e-4 and config.optim.betas == (0.8, 0.95)
    assert config.model.d_model == 96 and config.model.scan_blocks == ((2, 2), (4, 4))
    assert config.curriculum == (Stage(8, 10, 2), Stage(16, 5, 1))
    assert config.log.progress is False and config.data.actions == "pose" and config.seed == 7
    assert config.total_steps == 15
    assert config_differences(train_preset("tiny"), config) == sorted(
        [
            "curriculum",
            "data.actions",
            "log.progress",
            "model.d_model",
            "model.scan_blocks",
            "optim.betas",
            "optim.lr",
            "seed",
        ]
    )


def test_switching_to_a_variant_without_block_scan_drops_blocks_and_says_so(capsys):
    blocks = apply_overrides(train_preset("tiny"), ["model.scan_blocks=2x2,4x4"])
    kept = apply_overrides(blocks, ["model.variant=hybrid"])
    assert kept.model.scan_blocks == ((2, 2), (4, 4))
    assert capsys.readouterr().err == ""
    dropped = apply_overrides(blocks, ["model.variant=causal"])
    assert dropped.model.scan_blocks == ()
    assert "dropping model.scan_blocks=2x2,4x4" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config field"),
        ("model.latent_height=4", "derived from the tokenizer"),
        ("model.action_size=3", "derived from the tokenizer"),
        ("optim.lr=fast", "cannot parse"),
        ("curriculum=8:10", "FRAMES:STEPS:BATCH"),
        ("optim=3", "is a section"),
        ("no_equals_sign", "section.field=value"),
    ],
)
def test_bad_overrides_are_user_facing_errors(override, message):
    with pytest.raises(TrainConfigError, match=message) as info:
        apply_overrides(train_preset("tiny"), [override])
    assert info.value.user_facing


def test_validation_names_the_fix():
    config = apply_overrides(train_preset("tiny"), ["data.frame_stride=2"])
    with pytest.raises(TrainConfigError, match=r"data\.actions=pose"):
        validate_train_config(config)


def test_ssim_and_psnr_match_reference():
    structural_similarity = pytest.importorskip(
        "skimage.metrics", reason="scikit-image (the [test] extra) is not installed"
    ).structural_similarity
    from lsswm.worldmodel.train.metrics import psnr, ssim

    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (3, 24, 24, 3), dtype=torch.uint8, generator=generator)
    noise = torch.randint(-40, 40, a.shape, generator=generator)
    b = (a.int() + noise).clamp(0, 255).to(torch.uint8)
    ours = ssim(a, b)
    for i in range(3):
        reference = structural_similarity(
            a[i].numpy() / 255.0,
            b[i].numpy() / 255.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=-1,
        )
        assert abs(float(ours[i]) - reference) < 1e-5
        mse = np.mean((a[i].numpy() / 255.0 - b[i].numpy() / 255.0) ** 2)
        assert abs(float(psnr(a[i], b[i])) - 10 * np.log10(1 / mse)) < 1e-3
    assert float(ssim(a, a).min()) == pytest.approx(1.0)
