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
