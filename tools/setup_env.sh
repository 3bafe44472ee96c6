#!/usr/bin/env bash
# Create (or reuse) .venv and install wavelayers editable with the given extras (default: dev).
# Idempotent: a second run only checks that the install is current.
# pyproject.toml declares version ranges; tools/constraints.txt pins the exact builds CI tests here
# (torch 2.14.1, torchvision 0.29.1, which pip takes from this machine's disk).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-dev}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
STAMP=".venv/.wavelayers-${EXTRAS}.stamp"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ setup.py -nt "$STAMP" ] \
        || [ tools/constraints.txt -nt "$STAMP" ]; then
    .venv/bin/python -m pip install --quiet --upgrade "pip>=24"
    .venv/bin/python -m pip install --quiet -c tools/constraints.txt -e ".[${EXTRAS}]"
    touch "$STAMP"
fi
# The editable install exposes the integrations under their wheel name `wavelayers_integrations`; a
# checkout imports the same folder as `integrations` (tests, examples, tools) from any directory, through
# a folder on sys.path that holds only a link to it.
mkdir -p .venv/checkout
ln -sfn "$(pwd)/integrations" .venv/checkout/integrations
SITE="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$(pwd)/.venv/checkout" > "$SITE/wavelayers-checkout.pth"
