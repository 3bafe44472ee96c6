"""DVC baseline vs wavelet variants: parameters and CPU encode / decode time per P-frame.

    .venv/bin/python benchmarks/bench_video.py --height 512 --width 960 --preset dvc --wavelets none haar bior4.4

Frames: a synthetic sliding window over smoothed noise (untrained models, so rates are meaningless
and only the times and sizes count). One GOP of ``--frames`` frames (I-frame + P-frames) is coded;
times are per P-frame (mean over the P-frames, after a warm-up pass), ``torch`` on ``--threads``
CPU threads. Entropy coding (CompressAI's rANS) is included in both times.
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import torch


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _stat(seconds: list[float]) -> str:
    return f"{np.mean(seconds):.2f} ({min(seconds):.2f})" if len(seconds) > 1 else f"{seconds[0]:.2f}"


def _params_table(wavelets: list[str]) -> None:
    from integrations.video.model import MODEL_NAMES, build_model

    print("| preset | wavelet | total | flow | motion coder | motion comp. | residual coder |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, preset in MODEL_NAMES.items():
        for wavelet in wavelets:
            m = build_model(name, wavelet=wavelet)
            parts = (m, m.flow, m.motion, m.compensation, m.residual)
            print(f"| {preset} | {wavelet} | " + " | ".join(f"{_params(x):,}" for x in parts) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--preset", default="dvc", choices=("small", "dvc", "dvc-pytorch"))
    p.add_argument("--wavelets", nargs="+", default=["none", "bior4.4"])
    p.add_argument("--frames", type=int, default=2, help="GOP length (1 I-frame + P-frames)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--params-only", action="store_true", help="parameter table of every preset, no timing")
    args = p.parse_args()
    warnings.simplefilter("ignore", FutureWarning)
    torch.set_num_threads(args.threads)
    if args.params_only:
        _params_table(args.wavelets)
        return

    from integrations.video.data import moving_sequence
    from integrations.compression.container import unpack
    from integrations.video.gop import encode_gop, frame_tensor, tensor_frame
    from integrations.video.model import MODEL_NAMES, build_model

    frames = moving_sequence(args.frames, args.height, args.width, motion=(2, 3), seed=0)
    print(f"# {args.preset}, {args.width}x{args.height}, {args.frames - 1} P-frames, torch {torch.__version__}, "
          f"{args.threads} threads, {platform.processor() or platform.machine()}")
    print("| wavelet | params total | motion coder | residual coder | encode s / P-frame, mean (min) | "
          "decode s / P-frame, mean (min) |")
    print("|---|---:|---:|---:|---:|---:|")
    for wavelet in args.wavelets:
        model = build_model(next(n for n, p in MODEL_NAMES.items() if p == args.preset), wavelet=wavelet)
        model.update(force=True)
        model.eval()
        encode_gop(model, moving_sequence(2, 64, 64))  # warm-up: operator caches, allocator
        coding = encode_gop(model, frames)
        enc = coding.seconds[1:]
        _, streams = unpack(coding.data)
        dec_times = []
        for k in range(1, args.frames):
            ref = frame_tensor(coding.frames[k - 1], torch.device("cpu"))
            t0 = time.perf_counter()
            x_hat = model.decode_pframe(streams[2 + 3 * (k - 1): 2 + 3 * k], ref)
            dec_times.append(time.perf_counter() - t0)
            assert np.array_equal(tensor_frame(x_hat, args.height, args.width), coding.frames[k]), "not bit-exact"
        print(f"| {wavelet} | {_params(model):,} | {_params(model.motion):,} | {_params(model.residual):,} | "
              f"{_stat(enc)} | {_stat(dec_times)} |", flush=True)


if __name__ == "__main__":
    main()
