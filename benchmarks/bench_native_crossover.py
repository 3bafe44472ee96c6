"""Where the native kernels overtake the matrices: one 2D 9/7 level there and back (DWT then IDWT,
forward only) on planes of each size, 2^20 values per case, native / matrix in one process.

    .venv/bin/python benchmarks/bench_native_crossover.py [--threads 1] [--repeat 5]

The ``"auto"`` rule (``wavelayers.operators.NATIVE_MIN_PIXELS``) comes from this table
(docs/design.md, "Transform backends"; docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import time

import torch

from wavelayers import dwt2d, idwt2d, use_backend
from wavelayers import _native

SIZES = [(4, 4), (8, 8), (8, 12), (12, 12), (16, 16), (24, 24), (32, 32), (64, 64), (128, 192), (512, 768)]


def best_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wavelet", default="bior4.4")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not _native.available():
        raise SystemExit(f"the native backend is {_native.status()}")
    print(f"one {args.wavelet} level there and back, float32, {args.threads} thread(s), best of {args.repeat}\n")
    print("| plane | planes | native ms | matrix ms | matrix / native |")
    print("|---|---|---|---|---|")
    for h, w in SIZES:
        planes = max(1, 2**20 // (h * w))
        x = torch.randn(1, planes, h, w, generator=torch.Generator().manual_seed(0))
        ms = {}
        for backend in ("native", "matrix"):
            with use_backend(backend), torch.no_grad():
                ms[backend] = best_ms(lambda: idwt2d(dwt2d(x, args.wavelet)), args.repeat)
        print(f"| {h}x{w} | {planes} | {ms['native']:.2f} | {ms['matrix']:.2f} | {ms['matrix'] / ms['native']:.2f} |")


if __name__ == "__main__":
    main()
