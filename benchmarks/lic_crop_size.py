"""How a trained LIC model's rate and PSNR depend on the size of the image it codes.

    python benchmarks/lic_crop_size.py CKPT [CKPT ...] [--data data/photos/val] [--sizes 128 256 512]

For every checkpoint and size: the mean estimated bpp (from the likelihoods), PSNR and loss over
centre crops of that size of every image in ``--data``, and over the whole images. A model whose
layers and entropy model were fitted to one crop size can code other sizes worse (the coarsest
WeConv3D bands of a 128-pixel crop are 2x2, so boundary handling dominates them).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

from integrations.compression.datasets import list_images  # noqa: E402
from integrations.compression.imageio import load_rgb  # noqa: E402
from integrations.lic.checkpoint import load_checkpoint  # noqa: E402
from integrations.lic.loss import RateDistortionLoss  # noqa: E402
from integrations.lic.model import LAMBDAS  # noqa: E402
from integrations.lic.training import validate  # noqa: E402


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", default="data/photos/val")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = [load_rgb(p) for p in list_images(args.data)]
    print(f"{len(images)} images from {args.data}; estimated bpp / PSNR (dB) / loss\n")
    print("| checkpoint | " + " | ".join(f"{s}×{s} crops" for s in args.sizes) + " | whole images |")
    print("|---|" + "---|" * (len(args.sizes) + 1))
    for path in args.checkpoints:
        model = load_checkpoint(path)
        criterion = RateDistortionLoss.for_model(model, LAMBDAS[model.quality])
        cells = []
        for size in [*args.sizes, None]:
            batch = images if size is None else [centre_crop(x, size) for x in images
                                                 if min(x.shape[-2:]) >= size]
            r = validate(model, batch, criterion)
            cells.append(f"{r['bpp']:.3f} / {r['psnr']:.2f} / {r['loss']:.3f}")
        print(f"| {Path(path).name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
