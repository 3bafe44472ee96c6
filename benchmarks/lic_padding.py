"""What the codec's padding costs: each bundled photo whose size is not a multiple of 64, coded with
the padding the encoder uses (``extend_smoothly``: ever more blurred copies of the edges) and with
the alternatives (the edge replicated, the image mirrored), at the same weights and quality.

The padding is cropped off after decoding, so it changes only the bits (and, through the receptive
field, a little of the PSNR). Real bytes, bit-exact decoding checked, RGB PSNR.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_padding.py --quality 2 4 6 --limit 8 \
        --json benchmarks/results/lic_padding.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import MethodType

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression import metrics  # noqa: E402
from integrations.compression.datasets import bundled_photos  # noqa: E402
from integrations.compression.imageio import to_uint8  # noqa: E402
from integrations.lic.codec import load_model  # noqa: E402
from integrations.lic.model import WeConveneLIC, compress_image  # noqa: E402


def _pad_with(mode: str):
    """A ``WeConveneLIC._pad`` that pads with ``F.pad``'s ``mode`` instead of the codec's own."""
    def pad(model: WeConveneLIC, x: torch.Tensor) -> torch.Tensor:
        (ph, pw), (h, w) = model.padded_size(*x.shape[-2:]), x.shape[-2:]
        return F.pad(x, (0, pw - w, 0, ph - h), mode=mode)
    return pad


PADDINGS = {
    "smooth": WeConveneLIC._pad,  # the codec's own
    "replicate": _pad_with("replicate"),
    "reflect": _pad_with("reflect"),
}


def measure(model: WeConveneLIC, x: torch.Tensor, padding: str) -> dict:
    """Code ``x`` (1, 3, H, W) with ``padding``: bpp from the bytes and RGB PSNR of the decoded image."""
    model._pad = MethodType(PADDINGS[padding], model)  # this model only, not the class
    try:
        data, x_enc = compress_image(model, x)
    finally:
        del model._pad
    x_dec = model.decompress(data)
    if not torch.equal(x_enc, x_dec):
        raise RuntimeError(f"{padding}: the decoded image differs from the encoder's")
    H, W = x.shape[-2:]
    return {"bpp": len(data) * 8 / (H * W), "psnr": metrics.psnr(to_uint8(x), to_uint8(x_dec))}


def table(rows: list[dict]) -> str:
    """Markdown: per image and quality, bpp / PSNR of each padding and the bits saved against replicate."""
    lines = ["| image | size -> padded | quality | " + " | ".join(f"{p} bpp / PSNR" for p in PADDINGS)
             + " | smooth vs replicate: bits |", "|---|---|---|" + "---|" * (len(PADDINGS) + 1)]
    for r in rows:
        cells = " | ".join(f"{r[p]['bpp']:.4f} / {r[p]['psnr']:.2f}" for p in PADDINGS)
        saved = 100 * (r["smooth"]["bpp"] / r["replicate"]["bpp"] - 1)
        lines.append(f"| {r['image']} | {r['size']} -> {r['padded']} | {r['quality']:g} | {cells} | {saved:+.1f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="3dm-weconvene-small-vr")
    parser.add_argument("--checkpoint", type=Path, help="weights to use instead of the shipped ones of --name")
    parser.add_argument("--quality", type=float, nargs="+", default=[2, 4, 6])
    parser.add_argument("--limit", type=int, default=8, help="first N photos that scikit-image ships")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for q in (int(q) if q == int(q) else q for q in args.quality):
        model = load_model(args.checkpoint, name=None if args.checkpoint else args.name, quality=q).eval()
        for name, image in bundled_photos(args.limit):
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
            size, padded = tuple(x.shape[-2:]), model.padded_size(*x.shape[-2:])
            if size == padded:
                continue
            row = {"image": name, "size": "x".join(map(str, size)), "padded": "x".join(map(str, padded)), "quality": q}
            row.update({p: measure(model, x, p) for p in PADDINGS})
            rows.append(row)
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "model": model.model_id, "rows": rows},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
