"""World model checkpoints: self-describing safetensors, exact round trip."""

from __future__ import annotations

import pytest
import torch
from test_wm_model import random_clip, randomized_model

from lsswm.worldmodel.checkpoint import (
    EXPORT_NAME,
    CheckpointError,
    TrainData,
    TrainingMetadata,
    load_tokenizer,
    load_world_model,
    read_metadata,
    resolve_checkpoint_path,
    resolve_device,
    save_world_model,
    training_metadata,
)
from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.frame_model import FrameWorldModel
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig


def test_world_model_round_trip_is_exact(tmp_path, tiny_config):
    config = tiny_config("hybrid", scan_blocks=((1, 1), (2, 4)))
    model = randomized_model(config, dtype=torch.float32)
    path = tmp_path / "wm.safetensors"
    save_world_model(path, model, {"step": "12"})
    loaded = load_world_model(path)
    assert isinstance(loaded, WorldModel) and loaded.config == config
    for (name, mine), (_, theirs) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(mine, theirs), name
    latents, actions, levels = random_clip(config, dtype=torch.float32)
    assert torch.equal(
        loaded(latents, levels, actions).prediction, model(latents, levels, actions).prediction
    )
    metadata = read_metadata(path)
    assert metadata["step"] == "12"
    assert WorldModelConfig.from_json(metadata["world_model_config"]) == config


def test_frame_world_model_round_trip_keeps_the_tokenizer(tmp_path, tiny_config):
    tokenizer = Tokenizer(TokenizerConfig(kind="patchify", image_size=8, downsample=2))
    with torch.no_grad():
        tokenizer.latent_mean.fill_(0.25)
    config = tiny_config("causal", latent_channels=12)
    model = FrameWorldModel(WorldModel(config), tokenizer)
    path = tmp_path / "frame_wm.safetensors"
    save_world_model(path, model)
    loaded = load_world_model(path)
    assert isinstance(loaded, FrameWorldModel)
    assert loaded.tokenizer.config == tokenizer.config
    assert torch.equal(loaded.tokenizer.latent_mean, tokenizer.latent_mean)
    assert load_tokenizer(path).config == tokenizer.config


def test_bad_checkpoint_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_world_model(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a safetensors"):
        load_world_model(junk)
    tokenizer_only = tmp_path / "tok.safetensors"
    from lsswm.worldmodel.checkpoint import save_tokenizer

    save_tokenizer(
        tokenizer_only, Tokenizer(TokenizerConfig(kind="patchify", image_size=8, downsample=2))
    )
    with pytest.raises(CheckpointError, match="not a world model"):
        load_world_model(tokenizer_only)


def test_mismatched_tokenizer_is_rejected(tiny_config):
    tokenizer = Tokenizer(TokenizerConfig(kind="patchify", image_size=8, downsample=2))
    with pytest.raises(ValueError, match="latent grid"):
        FrameWorldModel(WorldModel(tiny_config("hybrid")), tokenizer)


def test_training_metadata_round_trips_and_run_folders_resolve(tmp_path, tiny_config):
    metadata = TrainingMetadata(
        image_shape=(32, 32, 3),
        action_space={"type": "discrete", "n": 6},
        data=TrainData(frame_stride=2, image_size=32, actions="pose"),
        step=7,
    )
    assert TrainingMetadata.from_metadata(metadata.to_metadata()) == metadata
    assert TrainingMetadata.from_metadata({}).data == TrainData()  # nothing recorded: defaults
    model = randomized_model(tiny_config("hybrid"), dtype=torch.float32)
    run = tmp_path / "run"
    save_world_model(run / EXPORT_NAME, model, metadata.to_metadata())
    assert resolve_checkpoint_path(run) == run / EXPORT_NAME
    assert training_metadata(run) == metadata
    with pytest.raises(CheckpointError, match="holds no"):
        resolve_checkpoint_path(tmp_path)
    assert resolve_device("cpu") == torch.device("cpu")
    assert isinstance(resolve_device("auto"), torch.device)


def test_checkpoint_steps_come_from_the_folder_names(tmp_path):
    from lsswm.worldmodel.checkpoint import CheckpointError, checkpoint_step, latest_step

    assert checkpoint_step(tmp_path / "checkpoints" / "step_00000200") == 200
    assert latest_step(tmp_path) == 0  # no checkpoints yet
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        checkpoint_step(tmp_path / "latest.json")
