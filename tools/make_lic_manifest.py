"""Write ``integrations/lic/shipped/manifest.json`` for the shipped LIC checkpoints.

    python tools/make_lic_manifest.py integrations/lic/shipped/*.safetensors [--data data/photos] [--force]
    python tools/make_lic_manifest.py --add-unshipped RUN.safetensors --evaluation EVAL.json --data data/photos-v2 \
        --note "why it does not ship" --state runs/vr/RUN.safetensors.state.pt

For every checkpoint: model, quality, lambda, model id, SHA-256, size, the chain of training runs
that produced it (each run's exact command, device, steps, seconds, crop, batch, learning rate,
validation metrics; oldest first, read from the ``init`` lineage stored in the checkpoint), the
training data (the collector's provenance summary) and reference metrics of one bundled image
(``skimage.data.chelsea()``) really coded and decoded with it, which ``tests/test_lic_shipped.py``
checks. ``--retire`` keeps the records of files that no longer ship under ``retired_checkpoints``
(a file replaced under the same name by other weights as ``"<name> @<its model id>"``).
A variable-rate checkpoint (one file for every quality) has ``"variable_rate": true`` and
reference metrics at each of the integer qualities 1..6 under ``reference_per_quality``.

``--add-unshipped`` records a training run whose weights did not beat the shipped ones in the
existing manifest's ``unshipped_runs`` list (the shipped entries are left as they are): its model,
model id, training runs, the checkpoint's size, where its resumable state was left, the training
data, the evaluation's per-quality figures (an ``eval`` / ``examples/lic_kodak.py`` results JSON)
and a note.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from skimage import data as skdata

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression.container import write_atomic  # noqa: E402
from integrations.compression.imageio import to_uint8  # noqa: E402
from integrations.compression.metrics import bpp, psnr  # noqa: E402
from integrations.lic.checkpoint import load_checkpoint, read_metadata  # noqa: E402
from integrations.lic.codec import compress_image, decompress_image  # noqa: E402
from integrations.lic.gains import LAMBDAS  # noqa: E402
from integrations.lic.weights import WEIGHTS_DIR, file_sha256  # noqa: E402

RUN_KEYS = ("device", "device_name", "processes", "steps_done", "seconds", "crop", "batch", "lr", "lr_drop", "lr_dropped_at",
            "metric", "w1", "w2", "seed", "images", "val")


def reference_image() -> torch.Tensor:
    """``skimage.data.chelsea()`` (300 x 451) as a (1, 3, H, W) float tensor in [0, 1]."""
    return torch.from_numpy(skdata.chelsea()).permute(2, 0, 1)[None].float() / 255


def reference_metrics(model, quality: int | float | None = None) -> dict:
    """Code the reference image for real (at ``quality``, default the model's): bytes, bpp from
    them, PSNR of the decoded image."""
    x = reference_image()
    data, x_hat = compress_image(model, x, quality=quality)
    decoded = decompress_image(model, data)
    if not torch.equal(decoded, x_hat):
        raise RuntimeError("decoder output differs from the encoder's reconstruction")
    h, w = x.shape[-2:]
    return {"image": "skimage.data.chelsea()", "height": h, "width": w, "bytes": len(data),
            "bpp": bpp(len(data), h, w), "psnr-rgb": psnr(to_uint8(x), to_uint8(decoded))}


def training_runs(extra: dict, command: str) -> list[dict]:
    """The runs that made a checkpoint, oldest first, from its ``init`` lineage. A weight average
    (``python -m integrations.lic average``) is one record whose ``averaged`` lists, for each
    input checkpoint, its file, SHA-256, weight and own ``training_runs``."""
    runs = []
    while True:
        if "averaged" in extra:
            runs.append({"command": command, "averaged": [
                {"file": rec["file"], "sha256": rec["sha256"], "weight": w,
                 "training_runs": training_runs(rec["extra"], rec["command"])}
                for rec, w in zip(extra["averaged"], extra["weights"])]})
            break
        runs.append({"command": command, **{k: extra[k] for k in RUN_KEYS if k in extra}})
        init = extra.get("init")
        if not init:
            break
        runs[-1]["init"] = {"file": init["file"], "sha256": init["sha256"], "quality": init["quality"]}
        extra, command = init["extra"], init["command"]
    return runs[::-1]


def data_summary(folder: Path) -> dict:
    prov = json.loads((folder / "provenance.json").read_text())
    photos = prov["photos"]
    return {"folder": f"data/{folder.name} (tools/collect_training_photos.py)",
            "train_images": sum(p["split"] == "train" for p in photos),
            "val_images": sum(p["split"] == "val" for p in photos),
            "packages": dict(Counter(f"{p['package']} {p['version']}" for p in photos)),
            "licenses": sorted({p["license"] for p in photos}), "short_side": prov["short_side"]}


def checkpoint_entry(path: Path) -> dict:
    """The manifest entry of one checkpoint (see the module docstring)."""
    meta = read_metadata(path)
    model = load_checkpoint(path)
    extra = json.loads(meta["extra"])
    entry = {
        "model": model.name, "quality": model.quality, "lambda": float(meta["lambda"]),
        "model_id": model.model_id, "sha256": file_sha256(path), "bytes": path.stat().st_size,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "stored_as": "float16" if extra.get("half") else "float32",
        "training_runs": training_runs(extra, meta["command"]),
        "reference": reference_metrics(model),
    }
    if model.variable_rate:
        entry["variable_rate"] = True
        entry["reference_per_quality"] = {str(q): reference_metrics(model, q) for q in LAMBDAS}
    ref = entry["reference"]
    print(f"{path.name}: {ref['bpp']:.4f} bpp, {ref['psnr-rgb']:.2f} dB on chelsea", file=sys.stderr)
    return entry


def evaluation_points(path: Path) -> list[dict]:
    """Per-quality means of an ``eval`` results JSON: quality, bpp, PSNR, images."""
    doc = json.loads(path.read_text())
    return [{"quality": p["quality"], "bpp": p["bpp"], "psnr-rgb": p["psnr-rgb"], "images": len(p["images"])}
            for p in doc["points"]]


def add_unshipped(args: argparse.Namespace) -> dict:
    """The existing manifest with one more ``unshipped_runs`` record."""
    manifest = json.loads(Path(args.out).read_text())
    path = Path(args.add_unshipped)
    entry = checkpoint_entry(path)
    kept = ("model", "model_id", "bytes", "parameters", "stored_as", "training_runs", "reference")
    record = {"file": path.name, "path": str(path), **{k: entry[k] for k in kept},
              "data": data_summary(Path(args.data)), "note": args.note,
              "state": {"path": args.state, "bytes": Path(args.state).stat().st_size} if args.state else None,
              "evaluation": {"results": Path(args.evaluation).name, "points": evaluation_points(Path(args.evaluation))}
              if args.evaluation else None}
    if "reference_per_quality" in entry:
        record["reference_per_quality"] = entry["reference_per_quality"]
    # Runs often share a file name (each writes runs/<dir>/<model>.safetensors): the weights, not the name,
    # say whether this run is already recorded.
    runs = [r for r in manifest.get("unshipped_runs", []) if r["model_id"] != record["model_id"]]
    manifest["unshipped_runs"] = runs + [record]
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--data", default=str(ROOT / "data" / "photos"), help="the training-data folder")
    parser.add_argument("--out", default=str(WEIGHTS_DIR / "manifest.json"))
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--add-unshipped", metavar="CKPT", help="record this run in the existing manifest instead")
    parser.add_argument("--evaluation", help="with --add-unshipped: its eval results JSON")
    parser.add_argument("--state", help="with --add-unshipped: where its resumable training state is kept")
    parser.add_argument("--note", default="", help="with --add-unshipped: why it does not ship")
    parser.add_argument("--retire", action="store_true",
                        help="keep the entries of the existing manifest's files that are no longer shipped under "
                             "retired_checkpoints (their files are removed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.add_unshipped:
        if args.checkpoints:
            parser.error("--add-unshipped takes no other checkpoints")
        manifest = add_unshipped(args)
        write_atomic(args.out, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(), force=True)
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    if not args.checkpoints:
        parser.error("give the checkpoints to ship (or --add-unshipped)")
    entries = {Path(p).name: checkpoint_entry(Path(p)) for p in sorted(args.checkpoints)}
    manifest = {"format": "wavelayers-lic-weights/1", "written": time.strftime("%Y-%m-%d"),
                "data": data_summary(Path(args.data)), "checkpoints": entries}
    if args.retire and Path(args.out).is_file():  # the replaced files' records stay in the manifest
        old = json.loads(Path(args.out).read_text())
        # a file no longer shipped keeps its name; one replaced under the same name by other weights is
        # kept as "<name> @<its model id>"
        retired = {**old.get("retired_checkpoints", {}),
                   **{(f if f not in entries else f"{f} @{e['model_id']}"): {**e, "data": old["data"]}
                      for f, e in old["checkpoints"].items()
                      if f not in entries or e["sha256"] != entries[f]["sha256"]}}
        manifest |= {"retired_checkpoints": retired, "unshipped_runs": old.get("unshipped_runs", [])}
    write_atomic(args.out, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(), force=args.force)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
