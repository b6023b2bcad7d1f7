#!/usr/bin/env bash
# Installs everything lsswm needs into ./.venv: system packages through apt (when missing and
# running as root) and the Python packages. Safe to re-run; sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Headless OpenGL for MuJoCo: EGL (Mesa) first, OSMesa as the fallback.
APT_PACKAGES=(libegl1 libgl1 libosmesa6 libglib2.0-0)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "[setup] apt-get install ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "[setup] warning: missing system packages ${missing[*]}; install them with" \
            "'sudo apt-get install ${missing[*]}' (needed for headless Memory Maze rendering)" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch: the CPU build on these machines; override e.g. TORCH_SPEC="torch==2.13.0" with a CUDA
# index on a GPU box. A bare `torch` would pull a multi-GB CUDA build.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
.venv/bin/python -m pip install -q "$TORCH_SPEC"
EXTRAS=${LSSWM_EXTRAS:-test}
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
echo "[setup] ready: $(.venv/bin/python -c 'import torch, lsswm.envs; print("torch", torch.__version__)')"
