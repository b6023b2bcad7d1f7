#!/usr/bin/env bash
# README command 2: install everything, then lint and run the default test suite.
# Extra arguments go to pytest (e.g. `-m slow` for the heavier tests, `-m ''` for all).
# `play` (Gradio) is tested by default; `metrics` (lpips + torchvision) is not installed: the
# torchvision wheel reachable here is a CUDA build that cannot import next to the CPU torch
# (docs/evaluation.md, LPIPS).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LSSWM_EXTRAS=${LSSWM_EXTRAS:-test,distributed,export,play} bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
