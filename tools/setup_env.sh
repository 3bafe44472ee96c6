#!/usr/bin/env bash
# Create (or reuse) .venv and install wavelayers with the given extras (default: dev).
# Idempotent: a second run only checks that the install is current.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-dev}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
STAMP=".venv/.wavelayers-${EXTRAS}.stamp"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    .venv/bin/python -m pip install --quiet --upgrade "pip>=24"
    # torch/torchvision 2.14.1/0.29.1 are pinned in pyproject.toml (pip takes them from the local disk copy).
    .venv/bin/python -m pip install --quiet -e ".[${EXTRAS}]"
    touch "$STAMP"
fi
