"""Training-side faults of issue 14: a truncated train_state.pt, bad --set values,
--print-config's derived fields, weight checksums, and a full disk while checkpointing."""

from __future__ import annotations

import errno
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from lsswm.worldmodel.checkpoint import (
    WEIGHTS_HASH_KEY,
    CheckpointError,
    load_world_model,
    read_metadata,
    save_world_model,
)
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.train import checkpoint as train_checkpoint
from lsswm.worldmodel.train.checkpoint import (
    TrainCheckpointError,
    resumable_checkpoint,
    write_checkpoint,
)
from lsswm.worldmodel.train.commands import main
from lsswm.worldmodel.train.config import TrainConfigError, apply_overrides, train_preset
from lsswm.worldmodel.train.loop import train
from lsswm.worldmodel.train.runtime import SimulatedKill


@pytest.fixture
def small_model(tiny_config):
    """A maker of the tests' tiny world model (conftest.py), for the checkpoint writers."""
    return lambda: WorldModel(tiny_config("hybrid"))


# ---- 1. a truncated train_state.pt ----------------------------------------------------------
def test_truncated_train_state_falls_back_to_the_previous_checkpoint(
    tiny_train_config, toy_dataset, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    with pytest.raises(SimulatedKill):  # checkpoints at steps 2 and 3 (stage end)
        train(
            tiny_train_config(
                toy_dataset, run_dir, "log.checkpoint_every=2", "debug.kill_at_step=4"
            )
        )
    latest = run_dir / "checkpoints" / "step_00000003"
    state = latest / "train_state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    capsys.readouterr()
    result = train(tiny_train_config(toy_dataset, run_dir, "log.checkpoint_every=2"))
    err = capsys.readouterr().err
    assert result.finished and result.step == 5
    assert "skipping checkpoint" in err and "step_00000003" in err and "truncated" in err
    assert "resuming from" in err and "step_00000002" in err


def test_no_loadable_checkpoint_is_one_clear_error(tmp_path):
    root = tmp_path / "run" / "checkpoints"
    for step in (2, 4):
        folder = root / f"step_{step:08d}"
        folder.mkdir(parents=True)
        (folder / "train_state.pt").write_bytes(b"PK\x03\x04 truncated")
    (root / "latest.json").write_text(json.dumps({"step": 4, "name": "step_00000004"}))
    with pytest.raises(TrainCheckpointError) as info:
        resumable_checkpoint(tmp_path / "run")
    message = str(info.value)
    assert "\n" not in message and "step_00000004" in message and "step_00000002" in message
    assert "move" in message  # the fix
    assert (root / "step_00000004" / "train_state.pt").is_file()  # nothing deleted


# ---- 2. bad --set values --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optim.betas=2,3", "optim.betas=2.0,3.0 is out of range"),
        ("seed=-1", "seed=-1 is out of range"),
        ("optim.lr=nan", "optim.lr=nan is not a finite number"),
        ("optim.lr=inf", "optim.lr=inf is not a finite number"),
        ("optim.lr=-1", "optim.lr=-1.0 is out of range"),
        ("optim.eps=0", "optim.eps=0.0 is out of range"),
        ("curriculum=16:0:4", "curriculum stage 16:0:4 is out of range"),
        ("curriculum=1:10:4", "curriculum stage 1:10:4 is out of range"),
    ],
)
def test_bad_set_values_are_refused_at_parse_time(override, named):
    with pytest.raises(TrainConfigError) as info:
        apply_overrides(train_preset("tiny"), [override])
    message = str(info.value)
    assert named in message and "\n" not in message
    assert info.value.user_facing


def test_bad_values_exit_2_with_one_line_from_the_cli(capsys):
    assert main(["train", "--print-config", "--set", "optim.betas=2,3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lsswm: error: optim.betas=2.0,3.0 is out of range") and "\n" not in err


# ---- 3. --print-config ----------------------------------------------------------------------
def test_print_config_shows_the_resolved_latent_grid(toy_dataset, tmp_path, capsys):
    # 32x32 frames (data.image_size), patch 4: an 8x8 grid of 48-channel latents.
    args = ["train", "--data", str(toy_dataset), "--run-dir", str(tmp_path / "r"), "--print-config"]
    assert main([*args, "--set", "tokenizer.patch_size=4"]) == 0
    model = json.loads(capsys.readouterr().out)["model"]
    assert (model["latent_height"], model["latent_width"], model["latent_channels"]) == (8, 8, 48)


def test_print_config_without_data_marks_the_placeholders(tmp_path, capsys):
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--print-config"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # still a loadable config
    assert "model.latent_height" in captured.err and "placeholders" in captured.err


# ---- 4. weight checksums --------------------------------------------------------------------
def test_corrupted_weights_fail_the_checksum_and_old_files_still_load(tmp_path, small_model):
    path = tmp_path / "model.safetensors"
    save_world_model(path, small_model())
    assert len(read_metadata(path)[WEIGHTS_HASH_KEY]) == 64
    load_world_model(path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a byte of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as info:
        load_world_model(path)
    assert "integrity check" in str(info.value) and "\n" not in str(info.value)
    # A file written before the checksum existed (no hash in its metadata) loads as before.
    old = tmp_path / "old.safetensors"
    save_world_model(old, small_model())
    metadata = read_metadata(old)
    del metadata[WEIGHTS_HASH_KEY]
    save_file(load_file(str(old)), str(old), metadata)
    assert WEIGHTS_HASH_KEY not in read_metadata(old)
    load_world_model(old)


# ---- 5. a full disk while checkpointing -----------------------------------------------------
def test_full_disk_while_checkpointing_leaves_no_partial_files(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"

    def weights(folder):
        (folder / "model.safetensors").write_bytes(b"x" * 1000)

    write_checkpoint(run_dir, 1, weights, {"step": 1})
    root = run_dir / "checkpoints"
    before = sorted(p.name for p in root.rglob("*"))

    def full_disk_save(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train_checkpoint.torch, "save", full_disk_save)
    with pytest.raises(TrainCheckpointError) as info:
        write_checkpoint(run_dir, 2, weights, {"step": 2})
    message = str(info.value)
    assert message.startswith("no space left on device writing ") and "step_00000002" in message
    assert "bytes" in message and "\n" not in message
    assert sorted(p.name for p in root.rglob("*")) == before  # nothing partial, nothing lost
    assert json.loads((root / "latest.json").read_text())["name"] == "step_00000001"


def test_full_disk_while_writing_weights_removes_the_temporary_file(
    tmp_path, monkeypatch, small_model
):
    from lsswm.worldmodel import checkpoint as wm_checkpoint

    def full_disk_save(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wm_checkpoint, "save_file", full_disk_save)
    with pytest.raises(OSError):
        save_world_model(tmp_path / "model.safetensors", small_model())
    assert list(tmp_path.iterdir()) == []
    # The trainer's write of the whole folder turns it into the one-line error.
    with pytest.raises(TrainCheckpointError, match="no space left on device"):
        write_checkpoint(
            tmp_path / "run",
            1,
            lambda folder: save_world_model(folder / "model.safetensors", small_model()),
            {"step": 1},
        )
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == []


def test_weights_hash_covers_dtype_and_shape():
    a = {"w": torch.zeros(4)}
    b = {"w": torch.zeros(2, 2)}
    from lsswm.worldmodel.checkpoint import weights_sha256

    assert weights_sha256(a) != weights_sha256(b)
