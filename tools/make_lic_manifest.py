"""Write ``integrations/lic/shipped/manifest.json`` for the shipped LIC checkpoints.

    python tools/make_lic_manifest.py integrations/lic/shipped/*.safetensors [--data data/photos] [--force]

For every checkpoint: model, quality, lambda, model id, SHA-256, size, the chain of training runs
that produced it (each run's exact command, device, steps, seconds, crop, batch, learning rate,
validation metrics; oldest first, read from the ``init`` lineage stored in the checkpoint), the
training data (the collector's provenance summary) and reference metrics of one bundled image
(``skimage.data.chelsea()``) really coded and decoded with it, which ``tests/test_lic_shipped.py``
checks.
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
from integrations.lic.weights import WEIGHTS_DIR, file_sha256  # noqa: E402

RUN_KEYS = ("device", "device_name", "processes", "steps_done", "seconds", "crop", "batch", "lr", "lr_drop", "lr_dropped_at",
            "metric", "w1", "w2", "seed", "images", "val")


def reference_image() -> torch.Tensor:
    """``skimage.data.chelsea()`` (300 x 451) as a (1, 3, H, W) float tensor in [0, 1]."""
    return torch.from_numpy(skdata.chelsea()).permute(2, 0, 1)[None].float() / 255


def reference_metrics(model) -> dict:
    """Code the reference image for real: bytes, bpp from them, PSNR of the decoded image."""
    x = reference_image()
    data, x_hat = compress_image(model, x)
    decoded = decompress_image(model, data)
    if not torch.equal(decoded, x_hat):
        raise RuntimeError("decoder output differs from the encoder's reconstruction")
    h, w = x.shape[-2:]
    return {"image": "skimage.data.chelsea()", "height": h, "width": w, "bytes": len(data),
            "bpp": bpp(len(data), h, w), "psnr-rgb": psnr(to_uint8(x), to_uint8(decoded))}


def training_runs(extra: dict, command: str) -> list[dict]:
    """The runs that made a checkpoint, oldest first, from its ``init`` lineage."""
    runs = []
    while True:
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
    return {"folder": "data/photos (tools/collect_training_photos.py)",
            "train_images": sum(p["split"] == "train" for p in photos),
            "val_images": sum(p["split"] == "val" for p in photos),
            "packages": dict(Counter(f"{p['package']} {p['version']}" for p in photos)),
            "licenses": sorted({p["license"] for p in photos}), "short_side": prov["short_side"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", default=str(ROOT / "data" / "photos"), help="the training-data folder")
    parser.add_argument("--out", default=str(WEIGHTS_DIR / "manifest.json"))
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    entries = {}
    for path in sorted(args.checkpoints):
        path = Path(path)
        meta = read_metadata(path)
        model = load_checkpoint(path)
        extra = json.loads(meta["extra"])
        entries[path.name] = {
            "model": model.name, "quality": model.quality, "lambda": float(meta["lambda"]),
            "model_id": model.model_id, "sha256": file_sha256(path), "bytes": path.stat().st_size,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "stored_as": "float16" if extra.get("half") else "float32",
            "training_runs": training_runs(extra, meta["command"]),
            "reference": reference_metrics(model),
        }
        ref = entries[path.name]["reference"]
        print(f"{path.name}: {ref['bpp']:.4f} bpp, {ref['psnr-rgb']:.2f} dB on chelsea", file=sys.stderr)
    manifest = {"format": "wavelayers-lic-weights/1", "written": time.strftime("%Y-%m-%d"),
                "data": data_summary(Path(args.data)), "checkpoints": entries}
    write_atomic(args.out, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(), force=args.force)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
