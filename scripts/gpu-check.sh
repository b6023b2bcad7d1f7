#!/usr/bin/env bash
# One prepared GPU check (at most ~8 minutes): uses the machine's CUDA torch or installs one
# (and mamba_ssm when importable or a wheel installs within a minute), runs the CUDA tests,
# the small-size scaling benchmark and 3 minutes of small-preset hybrid training on a
# generated dataset, then writes a table and JSON (frames/s, MFU against a matmul peak
# measured on this card) under results/gpu-check-TIMESTAMP/. On a machine without a GPU it
# says so and exits 2.
# Usage: [OFFLINE=1] [WHEELS=.whl] [TEST_SECONDS=150 BENCH_SECONDS=150 TRAIN_SECONDS=180] \
#        [BENCH_CONTEXTS=64,512,2048 BENCH_TRAIN_LENGTHS=64,800] \
#        bash scripts/gpu-check.sh [RESULTS_DIR]           (docs/training.md, "On a GPU")
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
    # --system-site-packages: a GPU image's own CUDA torch (and whatever else it holds) stays
    # visible, so a machine without internet needs no download.
    "${PYTHON:-python3}" -m venv --system-site-packages "$VENV"
    # When python3 is itself a venv (a GPU image's often is), --system-site-packages reaches only
    # its base interpreter: list python3's own site-packages too, after the new venv's.
    "${PYTHON:-python3}" -c 'import site; print("\n".join(site.getsitepackages()))' \
        >"$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gpu-check-parent.pth"
fi
# PyPI's default Linux torch wheel is a CUDA build.
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' 2>/dev/null; then
    log "installing torch==2.13.0 (CUDA build from PyPI)"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    timeout 240 "$PY" -m pip install -q "${TORCH_SPEC:-torch==2.13.0}" || log "torch install failed"
fi
log "torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>&1)"
# Offline (no package index): lsswm without its dependencies, plus any wheels in $WHEELS
# (a GPU image lacks the env packages; the checks below need only gymnasium from them).
WHEELS=${WHEELS:-.whl}
OFFLINE=${OFFLINE:-0}  # 1: try no package index at all (saves the wait for its time-outs)
PIP_NET=(--retries 1 --timeout 15)
if [[ $OFFLINE == 1 ]] || ! timeout 120 "$PY" -m pip install -q "${PIP_NET[@]}" -e ".[test]" >/dev/null 2>&1; then
    log "pip install -e .[test] failed (offline?): installing lsswm with --no-deps"
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl || log "wheels in $WHEELS failed"
    fi
    "$PY" -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 \
        || log "pip install --no-deps -e . failed"
fi
missing=$("$PY" - torch numpy gymnasium safetensors tqdm tensorboard pytest lsswm.cli.main <<'PY'
import importlib.util
import sys


def absent(name):
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:  # its parent package is missing
        return True


print(" ".join(name for name in sys.argv[1:] if absent(name)))
PY
)
[[ -z $missing ]] || log "missing Python packages: $missing (put their wheels in $WHEELS)"
LSSWM=("$PY" -m lsswm.cli.main)
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    log "NO GPU visible to torch ($("$PY" -c 'import torch; print(torch.__version__)' 2>&1)); stopping."
    printf '{"gpu": false, "reason": "torch sees no CUDA device"}\n' >"$OUT/summary.json"
    exit 2
fi
if { "$PY" -c 'import mamba_ssm' 2>/dev/null || { [[ $OFFLINE != 1 ]] \
    && timeout 60 "$PY" -m pip install -q "${PIP_NET[@]}" --only-binary=:all: mamba-ssm >/dev/null 2>&1; }; } \
    && "$PY" -c 'from lsswm.worldmodel.ssd import fused_scan_available as f; assert f()' 2>/dev/null; then
    log "mamba_ssm installed: the fused scan is tested"
else
    log "mamba_ssm: not importable and no wheel installed within a minute; the fused-scan test is SKIPPED"
fi

log "CUDA tests (tests/test_wm_cuda.py)"
timeout "${TEST_SECONDS:-150}" "$PY" -m pytest tests/test_wm_cuda.py -m cuda -q -p no:cacheprovider \
    --junitxml="$OUT/cuda-tests.xml" >"$OUT/cuda-tests.log" 2>&1
tail -n 15 "$OUT/cuda-tests.log" | tee -a "$OUT/log.txt"

# Few training lengths: each one compiles FlexAttention anew per attention variant, and past
# dynamo's recompile limit (8) it would fall back to eager FlexAttention, which holds every
# score in memory.
log "bench scaling --size small --device cuda"
timeout "${BENCH_SECONDS:-150}" "${LSSWM[@]}" bench scaling --size small --device cuda \
    --contexts "${BENCH_CONTEXTS:-64,512,2048}" --train-lengths "${BENCH_TRAIN_LENGTHS:-64,800}" --repeats 2 \
    --out "$OUT/scaling" --no-progress 2>&1 | tail -n 40 | tee -a "$OUT/log.txt"

log "${TRAIN_SECONDS:-180} s of small-preset hybrid training"
"$PY" scripts/gpu_check.py dataset "$OUT/data" >>"$OUT/log.txt" 2>&1
timeout --signal=INT --kill-after=30 "${TRAIN_SECONDS:-180}" "${LSSWM[@]}" train --data "$OUT/data" \
    --preset small --variant hybrid --run-dir "$OUT/train" --no-progress \
    --set log.video_every=0 log.checkpoint_every=100000 log.log_every=10 >>"$OUT/log.txt" 2>&1
log "training stopped (exit $?; 130 = stopped by the time limit, as planned)"

"$PY" scripts/gpu_check.py summarize "$OUT" 2>&1 | tee -a "$OUT/log.txt"
