"""Parameters, MACs and forward+backward time of the CIFAR ResNets, baseline vs 3DM-WeConv.

    .venv/bin/python benchmarks/bench_classification.py --threads 2 --batch 32 --reps 5

MACs per 32x32 image come from ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2; it counts
convolutions and every matrix product, so the wavelet transforms -- matrix products here -- are
included). A forward-hook counter over Conv2d/Linear alone is printed next to it: the difference is
the cost of the transforms. Timing: a training step (forward, cross-entropy, backward; no optimizer
step) on a random batch, configurations measured round-robin so that a load change on a shared
machine hits all of them alike; the median of ``--reps`` rounds after one warm-up round.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from integrations.classification import build_model
from integrations.toolkit import WAVELETS



def conv_linear_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of the Conv2d and Linear layers only, counted by forward hooks."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m: nn.Linear, _inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


def all_macs(model: nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return counter.get_total_flops() // 2


def step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    t0 = time.perf_counter()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    elapsed = time.perf_counter() - t0
    model.zero_grad(set_to_none=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["resnet18", "resnet34"])
    parser.add_argument("--wavelets", nargs="+", default=list(WAVELETS))
    parser.add_argument("--sites", nargs="+", default=["main", "all"], help="replacement sites ('main', 'all')")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    configs = []
    for arch in args.archs:
        for wavelet in args.wavelets:
            for sites in (["main"] if wavelet == "none" else args.sites):
                model = build_model(f"cifar-{arch}", wavelet=wavelet, sites=sites)
                configs.append(((arch, wavelet, "-" if wavelet == "none" else sites), model.train()))
    x1 = torch.randn(1, 3, 32, 32)
    xb, yb = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 100, (args.batch,))
    times: dict[tuple, list[float]] = {key: [] for key, _ in configs}
    for rep in range(args.reps + 1):
        for key, model in configs:
            seconds = step_seconds(model, xb, yb)
            if rep:  # round 0 is the warm-up (operator caches, allocator)
                times[key].append(seconds)

    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch} x 3 x 32 x 32, "
          f"median of {args.reps} rounds\n")
    print("| arch | wavelet | sites | parameters | MACs / image (all) | MACs / image (Conv2d+Linear) "
          "| fwd+bwd s / batch | x baseline |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    baseline: dict[str, float] = {}
    for key, model in configs:
        arch, wavelet, sites = key
        params = sum(p.numel() for p in model.parameters())
        model.eval()
        macs, conv_macs = all_macs(model, x1), conv_linear_macs(model, x1)
        seconds = statistics.median(times[key])
        if wavelet == "none":
            baseline[arch] = seconds
        ratio = seconds / baseline[arch] if arch in baseline else float("nan")
        print(f"| {arch} | {wavelet} | {sites} | {params:,} | {macs / 1e6:,.1f} M | {conv_macs / 1e6:,.1f} M "
              f"| {seconds:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
