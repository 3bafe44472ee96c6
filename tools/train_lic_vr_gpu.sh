#!/usr/bin/env bash
# One prepared GPU run of the shipped variable-rate codec: continue the CPU chain from the shipped
# 3dm-weconvene-small-vr weights at batch 8 (four times the CPU runs' batch), then score the result
# against the shipped file on the held-out photos. Written for a lent device machine (docs/lic.md,
# "Training on a lent GPU"), where the repository runs from source with that machine's torch.
#
# Usage: tools/train_lic_vr_gpu.sh OUT_DIR [SECONDS] [extra `integrations.lic train` options...]
#   e.g. through the device tool: bash tools/train_lic_vr_gpu.sh $OUT 420   (carry: data/photos-v2)
# Options after SECONDS override the defaults below (argparse keeps the last value), so the smoke
# test runs it on the CPU: ... OUT 5 --device cpu --batch 1 --crop 64 --steps 2.
# Writes OUT_DIR/3dm-weconvene-small-vr.safetensors (float16, 11 MB), its .log.jsonl, train.txt and
# validate.json. The resumable state (.state.pt, 66 MB) stays in OUT_DIR/state/a/b/, one folder
# deeper than the device tool returns (two folders down at most, 16 MiB a file), so it is not
# brought back; resume a CPU run from the weights with --init instead.
set -euo pipefail
out=${1:?usage: train_lic_vr_gpu.sh OUT_DIR [SECONDS] [train options...]}
secs=${2:-420}
shift $(( $# >= 2 ? 2 : 1 ))
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
data=${DATA:-$root/data/photos-v2}
init=${INIT:-$root/integrations/lic/shipped/3dm-weconvene-small-vr.safetensors}
name=3dm-weconvene-small-vr.safetensors
mkdir -p "$out/state/a/b"
if [ -e "$out/$name" ]; then
  echo "train_lic_vr_gpu.sh: $out/$name exists; give an empty OUT_DIR" >&2
  exit 2
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cd "$root"
# The CPU chain's recipe (docs/lic.md): every quality, the high ones drawn more often, lr 5e-5,
# gains at 1e-3, lr / 10 after 80 % of the time.
"$py" -m integrations.lic train --data "$data/train" --val "$data/val" --init "$init" --variable-rate \
    --qualities 1 2 3 4 5 6 4 5 6 6 --steps 1000000 --batch 8 --crop 256 --lr 5e-5 --gain-lr 1e-3 \
    --lr-drop 0.8 --time-limit "$secs" --save-every 250 --half --seed 41 --device cuda "$@" \
    --out "$out/state/a/b/$name" 2>&1 | tr '\r' '\n' | grep -v '^train .*\(step/s\|s/step\)' >"$out/train.txt" || true
if [ ! -s "$out/state/a/b/$name" ]; then
  echo "train_lic_vr_gpu.sh: training wrote no checkpoint; its output:" >&2
  tail -n 30 "$out/train.txt" >&2
  exit 1
fi
cp "$out/state/a/b/$name" "$out/state/a/b/$name.log.jsonl" "$out/"
"$py" "$root/benchmarks/lic_validate.py" "$out/$name" --data "$data/val" --versus "$init" \
    --json "$out/validate.json" | tee -a "$out/train.txt"
