#!/usr/bin/env bash
# Train the shipped 3dm-weconvene-small weights (4 rate points) and the equal-budget ablations, all
# at once on one CUDA GPU (one process each). Usage: tools/train_lic_weights.sh OUT_DIR [SECONDS]
# Data: tools/collect_training_photos.py --out data/photos (train/ and val/). Writes OUT_DIR/*.safetensors,
# their .log.jsonl, and OUT_DIR/ablations.json (validation metrics of every ablation run).
set -euo pipefail
out=${1:?usage: train_lic_weights.sh OUT_DIR [SECONDS]}
secs=${2:-390}
py=${PYTHON:-python3}
mkdir -p "$out" "$out/ablations"
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
common=(--data data/photos/train --val data/photos/val --device cuda --batch 8 --lr 1e-4 --seed 0)
pids=()
for q in 1 2 3 4; do  # shipped weights: crop 256, as many steps as the time allows
  $py -m integrations.lic train "${common[@]}" --quality $q --crop 256 --steps 100000 --time-limit "$secs" \
      --half --out "$out/3dm-weconvene-small-q$q.safetensors" >"$out/q$q.txt" 2>&1 & pids+=($!)
done
ablate() {  # name, extra args: equal budget (same data, steps, seed, lambda q3, crop 256: models trained
  # on 128 crops code whole images worse than small crops, docs/lic.md "Shipped weights")
  local name=$1; shift
  $py -m integrations.lic train "${common[@]}" --quality 3 --crop 256 --steps 4000 --time-limit "$secs" \
      "$@" --out "$out/ablations/$name.safetensors" >"$out/ablations/$name.txt" 2>&1 & pids+=($!)
}
ablate base
ablate conv --set transform=conv
ablate weconv2d --set transform=weconv2d
ablate hf3x3 --set hf_kernel=3
ablate levels1 --set levels=1
ablate wecharm --entropy wecharm
ablate haar --set wavelet=haar
ablate cdf53 --set wavelet=bior2.2
ablate chwdta-chwp8 --family chwdta --entropy chwp8
ablate chwdta-chwp4 --family chwdta --entropy chwp4
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
$py - "$out" <<'PY'
import json, sys, pathlib
from integrations.lic.checkpoint import read_metadata
out = pathlib.Path(sys.argv[1])
rows = {}
for f in sorted(out.glob("**/*.safetensors")):
    meta = read_metadata(f)
    extra = json.loads(meta["extra"])
    rows[str(f.relative_to(out))] = {k: extra[k] for k in ("steps_done", "seconds", "val", "final", "lr_dropped_at")}
    rows[str(f.relative_to(out))]["model"] = meta["model"]
(out / "ablations.json").write_text(json.dumps(rows, indent=1))
for k, v in rows.items():
    print(k, v["steps_done"], v["seconds"], {m: round(x, 4) for m, x in v["val"].items()})
PY
exit $status
