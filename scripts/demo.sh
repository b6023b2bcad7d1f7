#!/usr/bin/env bash
# README command 1: install everything, then run the end-to-end pipeline on the tiny default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/lsswm demo "$@"
