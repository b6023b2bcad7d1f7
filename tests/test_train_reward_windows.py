"""Balanced sampling of reward windows (data.reward_window_fraction)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsswm.worldmodel.train.config import TrainConfigError, apply_overrides, train_preset
from lsswm.worldmodel.train.data import WindowBatches, describe_data
from lsswm.worldmodel.train.synthetic import write_synthetic_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "grid", episodes=3, steps=60)


def _batches(dataset, fraction, seed=0, frames=4, batch_size=50):
    config = apply_overrides(
        train_preset("tiny").data, [f"path={dataset}", f"reward_window_fraction={fraction}"]
    )
    return WindowBatches(config, describe_data(config), frames, batch_size, seed)


def _reward_share(batch):
    return (batch["rewards"] != 0).any(dim=1).float().mean().item()


def test_every_window_holds_a_reward_at_fraction_one(dataset):
    batches = _batches(dataset, 1.0)
    assert len(batches.reward_events) > 0
    for index in range(len(batches)):
        assert _reward_share(batches[index]) == 1.0


def test_fraction_raises_the_share_of_reward_windows_deterministically(dataset):
    plain = _batches(dataset, 0.0)
    half = _batches(dataset, 0.5)
    assert plain.reward_events is None
    plain_share = np.mean([_reward_share(plain[i]) for i in range(len(plain))])
    half_share = np.mean([_reward_share(half[i]) for i in range(len(half))])
    assert half_share > plain_share + 0.2
    assert torch.equal(half[0]["frames"], _batches(dataset, 0.5)[0]["frames"])
    half.set_epoch(1)
    assert not torch.equal(half[0]["frames"], _batches(dataset, 0.5)[0]["frames"])


def test_fraction_outside_zero_one_is_refused(dataset):
    from lsswm.worldmodel.train.config import validate_train_config

    config = apply_overrides(train_preset("tiny"), ["data.reward_window_fraction=1.5"])
    with pytest.raises(TrainConfigError, match="reward_window_fraction"):
        validate_train_config(config)
