"""Parameters, MACs and CPU forward time per patch: MIRNet-v2 baseline vs 3DM-WeConv re-sampling.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2) over one forward pass: it
counts convolutions (``conv``) and matrix products (``matmul``: the dense DWT operator products of
``WeConv3D``, counted under ``use_backend("matrix")`` since the counter cannot see the native C
kernels the timed passes use, plus the context blocks' attention pooling); pooling, interpolation,
softmax and element-wise ops are not counted. Time: median of ``--reps`` forward passes under ``torch.no_grad``
after ``--warmup`` passes, batch 1, ``--threads`` CPU threads.

    .venv/bin/python benchmarks/bench_denoising.py --presets small full --wavelets none haar bior4.4
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from integrations.denoising.model import MODEL_NAMES, PRESETS, WAVELETS, build_model
from wavelayers import use_backend


def count_macs(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(convolution MACs, other matrix-product MACs) of one forward pass."""
    with torch.no_grad(), use_backend("matrix"), FlopCounterMode(display=False) as counter:
        model(x)
    per_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    conv = per_op.get("aten.convolution", 0) / 2
    return conv, counter.get_total_flops() / 2 - conv


def forward_seconds(model: torch.nn.Module, x: torch.Tensor, warmup: int, reps: int) -> float:
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=["small", "full"])
    p.add_argument("--wavelets", nargs="+", choices=WAVELETS, default=["none", "haar", "bior4.4"])
    p.add_argument("--size", type=int, default=256, help="square patch side (default 256)")
    p.add_argument("--wave-kernel", type=int, default=3, help="WeConv3D head kernel of the wavelet variants (default 3)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(1, 3, args.size, args.size)
    print(f"torch {torch.__version__}, {args.threads} threads, input 1x3x{args.size}x{args.size}, "
          f"median of {args.reps} after {args.warmup} warm-up")
    print(f"wavelet variants: WeConv3D head kernel {args.wave_kernel}")
    print("| preset | wavelet | swapped | params | conv GMACs | matmul GMACs | total GMACs | forward s |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        for wavelet in args.wavelets:
            wave_kwargs = {"kernel_size": args.wave_kernel} if wavelet != "none" else {}
            name = next(n for n, p in MODEL_NAMES.items() if p == preset)
            model = build_model(name, wavelet=wavelet, wave_kwargs=wave_kwargs).eval()
            params = sum(q.numel() for q in model.parameters())
            conv, other = count_macs(model, x)
            seconds = forward_seconds(model, x, args.warmup, args.reps)
            print(f"| {preset} | {wavelet} | {len(model.swapped)} | {params / 1e6:.3f} M | {conv / 1e9:.2f} | "
                  f"{other / 1e9:.2f} | {(conv + other) / 1e9:.2f} | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main()
