"""`lsswm bench scaling` at a micro size: every variant measured, tables, JSON and plot."""

from __future__ import annotations

import json

import pytest

from lsswm.cli.main import main
from lsswm.eval.errors import EvalError
from lsswm.eval.memory_meter import peak_memory
from lsswm.eval.scaling import ScalingOptions, run_scaling_benchmark


def test_scaling_benchmark_measures_generation_and_training(tmp_path, tiny_config):
    # The tests' tiny model (conftest.py) on a 2x2 latent grid keeps the benchmark quick.
    micro = tiny_config("hybrid", latent_height=2, latent_width=2, latent_channels=4)
    options = ScalingOptions(
        variants=("hybrid", "causal"),
        contexts=(5, 10),
        train_lengths=(2, 3),
        denoising_steps=1,
        repeats=1,
        equal_params=False,  # equal-size resizing is worldmodel.sizing's, tested there
    )
    results = run_scaling_benchmark(options, "cpu", tmp_path, progress=False, base_config=micro)
    on_disk = json.loads((tmp_path / "scaling.json").read_text())
    assert on_disk["suite"] == "scaling" and on_disk["settings"]["size"] == "custom"
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    hybrid, causal = results["variants"]["hybrid"], results["variants"]["causal"]
    for entry in (hybrid, causal):
        assert [p["context"] for p in entry["generation"]] == [5, 10]
        assert [p["frames"] for p in entry["training"]] == [2, 3]
        assert all(p["ms_per_frame"] > 0 and p["peak_bytes"] >= 0 for p in entry["generation"])
        assert all(p["ms_per_step"] > 0 for p in entry["training"])
    # The stream's carried state: constant for the hybrid, growing KV cache for causal.
    assert hybrid["generation"][0]["state_bytes"] == hybrid["generation"][1]["state_bytes"]
    assert causal["generation"][1]["state_bytes"] > causal["generation"][0]["state_bytes"]
    titles = [table["title"] for table in results["tables"]]
    assert any("ms per frame" in t for t in titles) and any("Training step" in t for t in titles)
    assert results["tables"][0]["columns"][-1] == "ratio 10/5"


def test_peak_memory_sees_torch_allocations():
    import torch

    with peak_memory("cpu") as peak:
        block = torch.ones(16 * 1024 * 1024 // 4)  # 16 MiB, touched
        del block
    assert peak.bytes >= 12 * 1024 * 1024
    assert peak.method


def test_bad_scaling_options_are_clear_errors(tmp_path, capsys):
    with pytest.raises(EvalError, match="--variants"):
        ScalingOptions.from_text(variants="hybrid,transformer", contexts="8", train_lengths="4")
    code = main(["bench", "scaling", "--contexts", "a,b", "--out", str(tmp_path)])
    assert code == 2
    assert "--contexts" in capsys.readouterr().err
