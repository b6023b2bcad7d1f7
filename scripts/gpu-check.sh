#!/usr/bin/env bash
# One prepared GPU check (at most ~8 minutes): installs a CUDA torch (and mamba_ssm when a
# wheel installs within a minute), runs the CUDA tests, the small-size scaling benchmark and
# 3 minutes of small-preset hybrid training on a generated dataset, then writes a table and
# JSON (frames/s, MFU against a matmul peak measured on this card) under
# results/gpu-check-TIMESTAMP/. On a machine without a GPU it says so and exits 2.
# Usage: bash scripts/gpu-check.sh [RESULTS_DIR]      (docs/training.md, "On a GPU")
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-results/gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
log() { echo "[gpu-check] $*" | tee -a "$OUT/log.txt"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    log "NO GPU: nvidia-smi finds no NVIDIA device on this machine; nothing was measured."
    log "Run this script on a CUDA machine. The CPU parts: pytest -m slow tests/test_wm_compile.py"
    printf '{"gpu": false, "reason": "no NVIDIA device (nvidia-smi)"}\n' >"$OUT/summary.json"
    exit 2
fi
log "GPU: $(nvidia-smi -L | head -1)"

VENV=${GPU_VENV:-.venv-gpu}
PY="$VENV/bin/python"
if [[ ! -x $PY ]]; then
    "${PYTHON:-python3}" -m venv "$VENV"
fi
# PyPI's default Linux torch wheel is a CUDA build.
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' 2>/dev/null; then
    log "installing torch==2.13.0 (CUDA build from PyPI)"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    timeout 240 "$PY" -m pip install -q "${TORCH_SPEC:-torch==2.13.0}" || log "torch install failed"
fi
"$PY" -m pip install -q -e ".[test]" >/dev/null 2>&1 || log "pip install -e .[test] failed"
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    log "NO GPU visible to torch ($("$PY" -c 'import torch; print(torch.__version__)' 2>&1)); stopping."
    printf '{"gpu": false, "reason": "torch sees no CUDA device"}\n' >"$OUT/summary.json"
    exit 2
fi
if timeout 60 "$PY" -m pip install -q --only-binary=:all: mamba-ssm >/dev/null 2>&1 \
    && "$PY" -c 'from lsswm.worldmodel.ssd import fused_scan_available as f; assert f()' 2>/dev/null; then
    log "mamba_ssm installed: the fused scan is tested"
else
    log "mamba_ssm: no wheel installed within a minute; the fused-scan test is SKIPPED"
fi

log "CUDA tests (tests/test_wm_cuda.py)"
timeout 150 "$PY" -m pytest tests/test_wm_cuda.py -m cuda -q -p no:cacheprovider \
    --junitxml="$OUT/cuda-tests.xml" 2>&1 | tail -n 15 | tee -a "$OUT/log.txt"

log "bench scaling --size small --device cuda"
timeout 150 "$VENV/bin/lsswm" bench scaling --size small --device cuda \
    --contexts 64,256,1024,4096 --train-lengths 64,200,400,800 --repeats 2 \
    --out "$OUT/scaling" --no-progress 2>&1 | tail -n 40 | tee -a "$OUT/log.txt"

log "3 minutes of small-preset hybrid training"
"$PY" scripts/gpu_check.py dataset "$OUT/data" >>"$OUT/log.txt" 2>&1
timeout --signal=INT --kill-after=30 180 "$VENV/bin/lsswm" train --data "$OUT/data" \
    --preset small --variant hybrid --run-dir "$OUT/train" --no-progress \
    --set log.video_every=0 log.checkpoint_every=100000 log.log_every=10 >>"$OUT/log.txt" 2>&1
log "training stopped (exit $?; 130 = stopped at 3 minutes, as planned)"

"$PY" scripts/gpu_check.py summarize "$OUT" 2>&1 | tee -a "$OUT/log.txt"
