"""scripts/gpu-check.sh on a machine without a GPU: it says so clearly and measures nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_without_a_gpu_says_so(tmp_path):
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}  # an nvidia-smi that finds none
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\necho 'No devices were found' >&2\nexit 6\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    out = tmp_path / "results"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu-check.sh"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "NO GPU" in result.stdout
    assert json.loads((out / "summary.json").read_text())["gpu"] is False
    assert not (out / "scaling").exists()


def test_mfu_parts_run_on_cpu(tiny_config):
    """The FLOP count and the measured matmul peak of scripts/gpu_check.py, on CPU."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    assert gpu_check.measured_peak_flops("cpu", size=128, dtype_name="float32") > 0
    config = tiny_config("hybrid")
    counted = gpu_check.step_flops_per_frame(config.to_dict(), frames=6, device="cpu")
    assert counted["method"] == "counted"
    # at least the dense layers' 6 * params * tokens per frame, roughly
    from lsswm.worldmodel.sizing import count_parameters

    assert counted["flops_per_frame"] > 2 * count_parameters(config) * config.tokens_per_frame
