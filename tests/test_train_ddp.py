"""Data-parallel training: two CPU processes under torchrun (gloo), and DataLoader workers.

Slow suite: process start-up dominates (about 15-30 s on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lsswm.worldmodel.checkpoint import latest_checkpoint, load_world_model
from lsswm.worldmodel.train.checkpoint import load_train_state
from lsswm.worldmodel.train.config import apply_overrides, train_preset
from lsswm.worldmodel.train.data import WindowBatches, describe_data

pytestmark = pytest.mark.slow


def test_torchrun_two_cpu_processes_gloo(toy_dataset, tmp_path):
    run_dir = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--standalone", "--nproc_per_node", "2",
        "-m", "lsswm.worldmodel.train.commands", "train",
        "--data", str(toy_dataset), "--preset", "tiny", "--run-dir", str(run_dir),
        "--set", "curriculum=6:2:2,8:2:1", "log.progress=false", "system.threads=1",
        "data.num_workers=1", "log.video_every=0",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "x 2 ranks" in done.stderr
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint.name == "step_00000004"
    assert load_train_state(checkpoint)["position"] == [2, 0, 0]
    # Only rank 0 writes: one event file, one export.
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    model = load_world_model(run_dir / "world_model.safetensors")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_dataloader_workers_give_the_same_batches(toy_dataset):
    config = apply_overrides(train_preset("tiny").data, [f"path={toy_dataset}"])
    spec = describe_data(config)
    plain = WindowBatches(config, spec, frames=6, batch_size=2, seed=3)
    workers = WindowBatches(
        apply_overrides(config, ["num_workers=2"]), spec, frames=6, batch_size=2, seed=3
    )
    expected = list(plain.batches(epoch=1, start=1))
    got = list(workers.batches(epoch=1, start=1))
    assert [i for i, _ in got] == [i for i, _ in expected] and len(got) >= 2
    for (_, a), (_, b) in zip(got, expected, strict=True):
        assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["actions"], b["actions"])
