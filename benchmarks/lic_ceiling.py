"""Where the codec's quality tops out: the autoencoder's own reconstruction, without quantisation.

For every quality and evaluation photo, RGB PSNR (8-bit) of three reconstructions by the same weights:
``unquantised`` = g_s(g_a(x)) with the continuous latents (no rate spent: the ceiling no rate can
pass), ``rounded`` = g_s(round(g_a(x))) (plain rounding, no entropy-model means) and ``coded`` = the
model's forward pass (rounding about the predicted means, as the bitstream does) with its estimated
bpp. If ``coded`` sits close under ``unquantised`` at the high qualities, more rate cannot buy
quality: the transforms are the bottleneck, not the entropy model.

``--decoder-steps N`` adds a fourth column, ``decoder``: g_s(y*) with the continuous latents y*
optimised for that image's MSE alone (Adam, N steps from g_a(x); the best seen). It bounds what
the synthesis can draw; its distance above ``unquantised`` is what the encoder g_a leaves behind
(its amortisation gap), which encoder-only training (``train --train encoder``) or encoder-side
refinement (``compress --refine``) can go after without touching the decoder.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_ceiling.py --quality 1 3 6 --limit 3
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lic_ceiling.py --quality 6 --decoder-steps 300
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


def decoder_range(model, image: np.ndarray, quality: float, steps: int, lr: float = 0.05) -> float:
    """Best PSNR of g_s(y) for ``image`` ((H, W, 3) uint8) over ``steps`` Adam steps on the MSE of the
    continuous latents ``y``, which start at g_a(x); the weights stay as they are."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    H, W = x.shape[-2:]
    gains = model._gains(quality) if model.variable_rate else None
    with torch.no_grad():
        y = model.analysis(model._pad(x), gains)
    y.requires_grad_(True)
    optimizer = torch.optim.Adam([y], lr=lr)
    best = -float("inf")
    for step in range(steps + 1):
        x_hat = model.synthesis(y, gains)[..., :H, :W]
        best = max(best, metrics.psnr(image, to_uint8(x_hat.detach().clamp(0, 1)[0])))
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        (grad,) = torch.autograd.grad(torch.mean((x_hat - x) ** 2), [y])
        y.grad = grad
        optimizer.step()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="weights (default: the shipped variable-rate file)")
    parser.add_argument("--name", default="3dm-weconvene-small-vr")
    parser.add_argument("--quality", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--limit", type=int, default=3, help="the first N bundled photos")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--decoder-steps", type=int, default=0,
                        help="add the 'decoder' column: latents optimised for MSE for this many steps (slow)")
    args = parser.parse_args(argv)
    if args.decoder_steps < 0:
        parser.error(f"--decoder-steps must be >= 0, got {args.decoder_steps}")
    model = load_model(args.checkpoint, name=None if args.checkpoint else args.name).eval()
    if not model.variable_rate and args.quality != [model.quality]:
        args.quality = [model.quality]
    photos = bundled_photos(args.limit)
    rows = [{"quality": q, "image": name, **ceiling(model, image, q)} for q in args.quality for name, image in photos]
    kinds = KINDS
    if args.decoder_steps:
        kinds = (*KINDS, "decoder")
        images = dict(photos)
        for r in rows:
            r["decoder"] = decoder_range(model, images[r["image"]], r["quality"], args.decoder_steps)
    print("| quality | est. bpp | " + " | ".join(f"{k} PSNR" for k in kinds) + " | coded - unquantised |")
    print("|---|---:|" + "---:|" * (len(kinds) + 1))
    for q in args.quality:
        sel = [r for r in rows if r["quality"] == q]
        mean = {k: float(np.mean([r[k] for r in sel])) for k in (*kinds, "bpp")}
        print(f"| {q:g} | {mean['bpp']:.3f} | " + " | ".join(f"{mean[k]:.2f}" for k in kinds)
              + f" | {mean['coded'] - mean['unquantised']:+.2f} |")
    if args.json:
        doc = {"model": model.model_id, "decoder_steps": args.decoder_steps, "rows": rows}
        write_atomic(args.json, (json.dumps(doc, indent=1) + "\n").encode(), force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
