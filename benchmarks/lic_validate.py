"""Choose between LIC checkpoints on held-out photos, not on the evaluation photos.

For every checkpoint and quality: the rate-distortion loss the model trains on (estimated bpp +
λ·255²·MSE, rounding about the entropy model's means, as in the codec) on whole images of a
held-out folder (default ``data/photos-v2/val``, photos that ``tools/collect_training_photos.py``
keeps out of training), with its estimated bpp and PSNR. With ``--versus BASE`` each checkpoint's
loss is also given as a ratio to BASE's at the same quality, and their mean over the qualities.
Picking the candidate to ship by this mean keeps the evaluation photos of ``examples/lic_kodak.py``
a test set.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_validate.py runs/a.safetensors runs/soup.safetensors \\
        --versus integrations/lic/shipped/3dm-weconvene-small-vr.safetensors --json val.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression.datasets import list_images  # noqa: E402
from integrations.compression.imageio import load_rgb  # noqa: E402
from integrations.toolkit.files import write_atomic  # noqa: E402
from integrations.lic.checkpoint import load_checkpoint  # noqa: E402
from integrations.lic.gains import LAMBDAS  # noqa: E402
from integrations.lic.loss import RateDistortionLoss  # noqa: E402
from integrations.lic.training import validate_qualities  # noqa: E402


def scores(path: str, images: list, qualities: list[int]) -> dict[str, dict[str, float]]:
    """``{"q<i>": {"loss", "bpp", "psnr", ...}}`` of one checkpoint (a fixed-rate one at its own quality)."""
    model = load_checkpoint(path)
    criteria = {q: RateDistortionLoss.for_model(model, LAMBDAS[q])
                for q in (qualities if model.variable_rate else [model.quality])}
    return validate_qualities(model, images, criteria)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", default=str(ROOT / "data" / "photos-v2" / "val"), help="held-out image folder")
    parser.add_argument("--quality", type=int, nargs="+", default=sorted(LAMBDAS), choices=sorted(LAMBDAS))
    parser.add_argument("--limit", type=int, default=None, help="the first N images of --data")
    parser.add_argument("--versus", default=None, help="checkpoint the losses are divided by")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    images = [load_rgb(p) for p in list_images(args.data)[: args.limit]]
    if not images:
        parser.error(f"no images in {args.data}")
    paths = args.checkpoints + ([args.versus] if args.versus and args.versus not in args.checkpoints else [])
    results = {p: scores(p, images, args.quality) for p in paths}
    base = results.get(args.versus) if args.versus else None
    qs = [k for k in (f"q{q}" for q in args.quality) if all(k in r for r in results.values())]
    print(f"{len(images)} images of {args.data}; loss / estimated bpp / PSNR (dB)"
          + ("; ratio = loss / the --versus checkpoint's" if base else ""))
    print("| checkpoint | " + " | ".join(qs) + (" | mean ratio |" if base else " |"))
    print("|---|" + "---|" * (len(qs) + (1 if base else 0)))
    for p, r in results.items():
        cells = [f"{r[q]['loss']:.4f} / {r[q]['bpp']:.3f} / {r[q]['psnr']:.2f}" for q in qs]
        if base:
            ratios = [r[q]["loss"] / base[q]["loss"] for q in qs]
            cells = [f"{c} ({x:.3f})" for c, x in zip(cells, ratios)] + [f"{np.mean(ratios):.4f}"]
            r["mean_ratio"] = float(np.mean(ratios))
        print(f"| {p} | " + " | ".join(cells) + " |")
    if args.json:
        doc = {"data": args.data, "images": len(images), "versus": args.versus, "results": results}
        write_atomic(args.json, (json.dumps(doc, indent=1) + "\n").encode(), force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
