"""Where the codec's quality tops out: the autoencoder's own reconstruction, without quantisation.

For every quality and evaluation photo, RGB PSNR (8-bit) of three reconstructions by the same weights:
``unquantised`` = g_s(g_a(x)) with the continuous latents (no rate spent: the ceiling no rate can
pass), ``rounded`` = g_s(round(g_a(x))) (plain rounding, no entropy-model means) and ``coded`` = the
model's forward pass (rounding about the predicted means, as the bitstream does) with its estimated
bpp. If ``coded`` sits close under ``unquantised`` at the high qualities, more rate cannot buy
quality: the transforms are the bottleneck, not the entropy model.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_ceiling.py --quality 1 3 6 --limit 3
    .venv/bin/python benchmarks/lic_ceiling.py --checkpoint runs/vr4/3dm-weconvene-small-vr.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression import metrics  # noqa: E402
from integrations.compression.datasets import bundled_photos  # noqa: E402
from integrations.compression.imageio import to_uint8  # noqa: E402
from integrations.lic.codec import load_model  # noqa: E402
from integrations.lic.loss import band_bpp  # noqa: E402
from integrations.toolkit.files import write_atomic  # noqa: E402

KINDS = ("unquantised", "rounded", "coded")


@torch.no_grad()
def ceiling(model, image: np.ndarray, quality: float) -> dict[str, float]:
    """PSNR of the three reconstructions of ``image`` ((H, W, 3) uint8) and the coded point's estimated bpp."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    H, W = x.shape[-2:]
    gains = model._gains(quality) if model.variable_rate else None
    y = model.analysis(model._pad(x), gains)
    out = model(x, quality=quality) if model.variable_rate else model(x)
    images = {
        "unquantised": model.synthesis(y, gains)[..., :H, :W],
        "rounded": model.synthesis(torch.round(y), gains)[..., :H, :W],
        "coded": out["x_hat"],
    }
    row = {kind: metrics.psnr(image, to_uint8(t.clamp(0, 1)[0])) for kind, t in images.items()}
    row["bpp"] = float(sum(band_bpp(out["likelihoods"], H * W).values()))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="weights (default: the shipped variable-rate file)")
    parser.add_argument("--name", default="3dm-weconvene-small-vr")
    parser.add_argument("--quality", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--limit", type=int, default=3, help="the first N bundled photos")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    model = load_model(args.checkpoint, name=None if args.checkpoint else args.name).eval()
    if not model.variable_rate and args.quality != [model.quality]:
        args.quality = [model.quality]
    photos = bundled_photos(args.limit)
    rows = [{"quality": q, "image": name, **ceiling(model, image, q)} for q in args.quality for name, image in photos]
    print("| quality | est. bpp | " + " | ".join(f"{k} PSNR" for k in KINDS) + " | coded - unquantised |")
    print("|---|---:|" + "---:|" * (len(KINDS) + 1))
    for q in args.quality:
        sel = [r for r in rows if r["quality"] == q]
        mean = {k: float(np.mean([r[k] for r in sel])) for k in (*KINDS, "bpp")}
        print(f"| {q:g} | {mean['bpp']:.3f} | " + " | ".join(f"{mean[k]:.2f}" for k in KINDS)
              + f" | {mean['coded'] - mean['unquantised']:+.2f} |")
    if args.json:
        doc = {"model": model.model_id, "rows": rows}
        write_atomic(args.json, (json.dumps(doc, indent=1) + "\n").encode(), force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
