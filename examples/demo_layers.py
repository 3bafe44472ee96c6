"""A short tour of wavelayers: exact transforms and the wavelet-domain layers.

    python examples/demo_layers.py [--size 63 95]

Prints reconstruction errors against the input (any size, odd included), the agreement with
PyWavelets, and the shapes and parameter counts of WeConv2D / WeConv3D / ChWDTB next to the
modules they stand in for.
"""
from __future__ import annotations

import argparse

import numpy as np
import pywt
import torch
from torch import nn

from wavelayers import ChWDTB, DWT2D, IDWT2D, WeConv2D, WeConv3D


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=2, default=(63, 95), metavar=("H", "W"), help="spatial size")
    parser.add_argument("--channels", type=int, default=64, help="feature channels for the layers")
    args = parser.parse_args()
    torch.manual_seed(0)
    H, W = args.size

    print(f"== transforms on a (2, 3, {H}, {W}) float32 tensor ==")
    x = torch.randn(2, 3, H, W)
    for wavelet in ("haar", "bior2.2", "bior4.4"):
        for mode in ("jpeg2000", "periodization", "symmetric"):
            dwt, idwt = DWT2D(wavelet, levels=2, mode=mode), IDWT2D(wavelet, mode=mode)
            ll, highs = dwt(x)
            rec = idwt(ll, highs, size=(H, W))
            line = f"{wavelet:8s} {mode:14s} LL {tuple(ll.shape[-2:])}  max|x - idwt(dwt(x))| = {(rec - x).abs().max():.1e}"
            if mode != "jpeg2000":
                ref = pywt.wavedec2(x.double().numpy(), wavelet, mode=mode, level=2)
                line += f"  max|ll - pywt| = {np.abs(ll.double().numpy() - ref[0]).max():.1e}"
            print(line)

    C = args.channels
    print(f"\n== layers on a (2, {C}, {H}, {W}) tensor ==")
    f = torch.randn(2, C, H, W)
    rows = [
        ("Conv2d(C, 2C, 3, stride 2)", nn.Conv2d(C, 2 * C, 3, 2, 1)),
        ("WeConv2D(C, 2C, stride 2)", WeConv2D(C, 2 * C, stride=2)),
        ("WeConv3D(C, 2C, stride 2)", WeConv3D(C, 2 * C, stride=2)),
        ("WeConv3D(C, 2C, stride 2, hf 3x3)", WeConv3D(C, 2 * C, stride=2, hf_kernel=3)),
        ("ConvTranspose2d(C, C/2, up 2)", nn.ConvTranspose2d(C, C // 2, 3, 2, 1, output_padding=1)),
        ("WeConv3D(C, C/2, transposed)", WeConv3D(C, C // 2, upsample="subpixel")),
        ("ChWDTB(C, shift)", ChWDTB(C, num_heads=4, window_size=8, shift=True)),
    ]
    for name, module in rows:
        with torch.no_grad():
            y = module(f)
        print(f"{name:36s} -> {str(tuple(y.shape)):18s} params {n_params(module):>9,d}")


if __name__ == "__main__":
    main()
