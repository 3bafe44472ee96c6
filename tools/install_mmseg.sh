#!/usr/bin/env bash
# Install the mmsegmentation stack used by integrations/segmentation into a virtual environment:
#   mmengine 0.10.7, a FULL mmcv 2.1.0 (compiled ops: CPU, plus CUDA where torch sees a GPU) built from the
#   PyPI source distribution for the venv's torch, mmsegmentation 1.2.2 and its undeclared runtime deps (ftfy, regex), setuptools<81.
#
# Usage: bash tools/install_mmseg.sh [VENV]        (default: <repo>/.venv, which must already exist)
#
# Why a source build: PyPI has no mmcv 2.1.0 wheel with compiled ops for recent torch, and mmseg 1.2.2
# rejects mmcv 2.2 (it requires 2.0.0rc4 <= mmcv < 2.2.0). torch >= 2.14 headers need C++20 while mmcv's
# setup.py hard-codes -std=c++14/17, so the script raises the flag in the unpacked sdist before building.
# The built wheel is cached per (mmcv, CPU/CUDA ops, torch, python) in ${WAVELAYERS_CACHE:-$HOME/.cache/wavelayers}/wheels:
# the first run compiles (one-time cost, see docs/segmentation.md), later runs only pip-install the wheel,
# and a run on an up-to-date venv only checks versions.
set -euo pipefail

MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
MMSEG_VERSION=1.2.2
# mmengine requires opencv-python; opencv >= 4.12 wheels require numpy >= 2, which the lic extra forbids
# (compressai 1.2.8 pins numpy < 2), so both are capped here to keep the rest of the venv intact.
RUNTIME_DEPS=("mmengine==${MMENGINE_VERSION}" "opencv-python>=4.5,<4.12" "numpy<2" "setuptools<81" "ftfy" "regex" "ninja")

REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$REPO/.venv}"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    echo "install_mmseg.sh: no python at $PY (create the venv first: bash tools/setup_env.sh dev)" >&2
    exit 2
fi
PIP=("$PY" -m pip --quiet --disable-pip-version-check)

stack_is_current() {
    "$PY" - "$MMCV_VERSION" "$MMENGINE_VERSION" "$MMSEG_VERSION" <<'EOF' 2>/dev/null
import importlib.metadata as md, importlib.util, sys
want = dict(zip(["mmcv", "mmengine", "mmsegmentation"], sys.argv[1:]))
ok = all(md.version(name) == version for name, version in want.items())
ok = ok and all(importlib.util.find_spec(m) for m in ["ftfy", "regex", "cv2", "pkg_resources"])
ok = ok and any(str(f).startswith("mmcv/_ext") for f in md.files("mmcv"))
sys.exit(0 if ok else 1)
EOF
}

if stack_is_current; then
    echo "mmseg stack already installed in $VENV (mmcv $MMCV_VERSION with ops, mmengine $MMENGINE_VERSION, mmsegmentation $MMSEG_VERSION)"
    exit 0
fi

TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__.replace("+", "-"))')"
# mmcv's setup.py compiles CUDA kernels whenever torch sees a GPU (FORCE_CUDA=0 does not stop that), so
# CPU-only and CUDA builds get separate cache entries.
OPS="$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
PY_TAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
CACHE_ROOT="${WAVELAYERS_CACHE:-$HOME/.cache/wavelayers}"
WHEEL_DIR="$CACHE_ROOT/wheels/mmcv-${MMCV_VERSION}-${OPS}-ops-torch-${TORCH_VERSION}-${PY_TAG}"
LOG="$CACHE_ROOT/logs/mmcv-${MMCV_VERSION}-build.log"
mkdir -p "$WHEEL_DIR" "$(dirname "$LOG")"

"${PIP[@]}" install "${RUNTIME_DEPS[@]}"

if ! ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    echo "Building mmcv $MMCV_VERSION with $OPS ops for torch $TORCH_VERSION (one-time: 7.5 min on 2 CPU cores;"
    echo "  log: $LOG; the wheel is cached in $WHEEL_DIR)"
    START=$SECONDS
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    SRC="$WORK/mmcv-${MMCV_VERSION}"
    # (&& chain: set -e does not apply inside a command list followed by ||.)
    # --no-build-isolation: mmcv's setup.py imports torch even to report its metadata.
    {
        "$PY" -m pip download --no-deps --no-binary :all: --no-build-isolation "mmcv==${MMCV_VERSION}" -d "$WORK" &&
        tar -xzf "$WORK/mmcv-${MMCV_VERSION}.tar.gz" -C "$WORK" &&
        sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py" &&
        ! grep -q -e '-std=c++14' -e '-std=c++17' "$SRC/setup.py" &&
        PATH="$VENV/bin:$PATH" MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" \
            "$PY" -m pip wheel --no-deps --no-build-isolation -w "$WORK/dist" "$SRC"
    } >"$LOG" 2>&1 || { echo "mmcv build failed; last lines of $LOG:" >&2; tail -n 30 "$LOG" >&2; exit 1; }
    mv "$WORK"/dist/mmcv-"$MMCV_VERSION"-*.whl "$WHEEL_DIR"/
    echo "Built mmcv wheel in $(( (SECONDS - START) / 60 )) min $(( (SECONDS - START) % 60 )) s (one-time)."
fi

"${PIP[@]}" install "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl "mmsegmentation==${MMSEG_VERSION}" "${RUNTIME_DEPS[@]}"
"$PY" -c "import mmcv.ops, mmseg.models; print('mmseg stack ready: mmcv', mmcv.__version__, '(ops), mmseg', mmseg.__version__)"
