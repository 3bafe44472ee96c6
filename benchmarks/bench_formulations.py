"""One axis pass of the 9/7 analysis, written every way PyTorch offers, on this machine, in one run.

    .venv/bin/python benchmarks/bench_formulations.py                 # eager formulations
    .venv/bin/python benchmarks/bench_formulations.py --compiled      # + torch.compile (inductor), minutes

Why the transform backends are what they are (docs/design.md, "Transform backends"): every row is
one level of the 9/7 (``bior4.4``) analysis along one axis of a ``(8, 128, 64, 64)`` float32 tensor,
timed as the median of repeated calls (``benchmarks/timing.py``), next to one ``clone`` (a read and a
write of the tensor). *exact*: the JPEG 2000 result (the lifting and gathered-filter forms are
checked against ``wavelayers.dwt1d`` before timing); *same work*: the same multiply-adds and
extension, alignment not checked (the convolutions); *kernel only*: no boundary extension, the
inner loop alone, a lower bound for that formulation.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

import pywt
import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

from wavelayers import dwt1d, use_backend  # noqa: E402
from wavelayers._lifting import analysis as lifting_analysis  # noqa: E402
from wavelayers.operators import analysis_matrix  # noqa: E402

WAVELET = "bior4.4"
_BANK = pywt.Wavelet(WAVELET)
LOW_TAPS = _BANK.dec_lo[::-1]  # correlation taps: low[k] = sum_j LOW_TAPS[j] x[2k - 4 + j]
HIGH_TAPS = _BANK.dec_hi[::-1]  # high[k] = sum_j HIGH_TAPS[j] x[2k - 4 + j] (centred on odd samples)
PAD = 5


def _reflect_index(n: int, pad: int, device: torch.device) -> Tensor:
    """Whole-sample symmetric extension by ``pad`` samples, as an index (symbolic-size friendly)."""
    i = torch.arange(n + 2 * pad, device=device) - pad
    return (n - 1) - ((n - 1) - i.abs()).abs()


def _strided_filter(xe: Tensor, dim: int, m: int) -> tuple[Tensor, Tensor]:
    """Low and high bands of an extended axis as sums of strided slices (polyphase filtering)."""
    bands = []
    for taps, start in ((LOW_TAPS, 1), (HIGH_TAPS, 1)):  # both: band[k] = sum_j taps[j] x[2k - 4 + j]
        acc = None
        for j, c in enumerate(taps):
            if c:
                term = xe.narrow(dim, start + j, 2 * m - 1)
                index = [slice(None)] * xe.dim()
                index[dim] = slice(None, None, 2)
                term = term[tuple(index)] * c
                acc = term if acc is None else acc + term
        bands.append(acc)
    return bands[0], bands[1]


def filter_extended(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Exact: gather the symmetric extension, then strided polyphase sums."""
    n = x.shape[dim]
    xe = x.index_select(dim, _reflect_index(n, PAD, x.device))
    return _strided_filter(xe, dim, (n + 1) // 2)


def parity_interior(x: Tensor) -> Tensor:
    """Kernel only (last axis): every output from contiguous loads, low taps on even and high taps on
    odd positions (the interleaved JPEG 2000 layout), no extension."""
    n = x.shape[-1] - 2 * PAD
    low = high = None
    for j in range(len(LOW_TAPS)):
        if LOW_TAPS[j]:
            t = x[..., j : j + n] * LOW_TAPS[j]
            low = t if low is None else low + t
        if HIGH_TAPS[j]:
            t = x[..., j + 1 : j + 1 + n] * HIGH_TAPS[j]
            high = t if high is None else high + t
    even = torch.arange(n, device=x.device) % 2 == 0
    return torch.where(even, low, high)


def strided_interior(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Kernel only: the strided polyphase sums over the interior, no extension."""
    return _strided_filter(x, dim, (x.shape[dim] - 2 * PAD + 1) // 2)


def cases(x: Tensor) -> list[tuple[str, str, Callable[[], object]]]:
    n = x.shape[-1]
    A = torch.tensor(analysis_matrix(WAVELET, "jpeg2000", n), dtype=x.dtype)
    flat = x.reshape(-1, n, n)
    # row blocks of 16, each multiplying only the columns it touches (padded to one width): one bmm
    starts, width = [], 0
    for r0 in range(0, A.shape[0], 16):
        cols = torch.nonzero(A[r0 : r0 + 16].abs().sum(0)).flatten()
        starts.append(int(cols[0]))
        width = max(width, int(cols[-1]) - int(cols[0]) + 1)
    starts = [min(c, n - width) for c in starts]
    gather = torch.tensor([c + i for c in starts for i in range(width)])
    blocks = torch.stack([A[r0 : r0 + 16, c : c + width] for r0, c in zip(range(0, A.shape[0], 16), starts)])
    xs = x.reshape(-1, 1, n, n)
    k = torch.stack([torch.tensor(LOW_TAPS[:9], dtype=x.dtype), torch.tensor(HIGH_TAPS[:9], dtype=x.dtype)])
    depthwise = k.view(1, 2, 9, 1).repeat(n, 1, 1, 1).reshape(2 * n, 1, 9, 1)
    ext_h = _reflect_index(n, 4, x.device)
    return [
        ("clone", "-", lambda: x.clone()),
        ("dense GEMM, W (matrix backend)", "exact", lambda: x @ A.T),
        ("dense GEMM, H (matrix backend)", "exact", lambda: A @ flat),
        (f"row blocks 16 x {width} as one bmm, H", "exact",
         lambda: torch.matmul(blocks, flat.index_select(1, gather).unflatten(1, (len(starts), width)))),
        ("lifting steps, W (lifting backend)", "exact", lambda: lifting_analysis(x, -1, WAVELET, "jpeg2000")),
        ("lifting steps, H (lifting backend)", "exact", lambda: lifting_analysis(x, -2, WAVELET, "jpeg2000")),
        ("gathered extension + strided sums, H", "exact", lambda: filter_extended(x, -2)),
        ("conv2d 1->2 channels, stride 2, W", "same work", lambda: F.conv2d(xs.index_select(-1, ext_h), k.view(2, 1, 1, 9), stride=(1, 2))),
        ("depthwise conv, channels-last view, H", "same work",
         lambda: F.conv2d(flat.index_select(1, ext_h).unsqueeze(2).permute(0, 3, 1, 2), depthwise, stride=(2, 1), groups=n)),
    ]


def compiled_cases(x: Tensor) -> list[tuple[str, str, Callable[[], object]]]:
    def lifting_w(t: Tensor):
        return lifting_analysis(t, -1, WAVELET, "jpeg2000")

    def lifting_h(t: Tensor):
        return lifting_analysis(t, -2, WAVELET, "jpeg2000")

    out = []
    for label, kind, fn in [
        ("compiled: lifting steps, W", "exact", lifting_w),
        ("compiled: lifting steps, H", "exact", lifting_h),
        ("compiled: gathered extension + strided sums, H", "exact", lambda t: filter_extended(t, -2)),
        ("compiled: gathered extension + strided sums, W", "exact", lambda t: filter_extended(t, -1)),
        ("compiled: strided sums, H", "kernel only", lambda t: strided_interior(t, -2)),
        ("compiled: parity-interleaved sums, W", "kernel only", parity_interior),
    ]:
        compiled = torch.compile(fn, dynamic=False)
        compiled(x)
        out.append((label, kind, lambda c=compiled: c(x)))
    return out


def check_exact(x: Tensor) -> None:
    """The exact formulations agree with wavelayers' own transform before anything is timed."""
    x64 = x[:1, :2].double()
    with use_backend("matrix"):
        low, high = dwt1d(x64, WAVELET, mode="jpeg2000", dim=-2)
    for name, got in (("lifting", lifting_analysis(x64, -2, WAVELET, "jpeg2000")), ("filter", filter_extended(x64, -2))):
        for a, b in zip(got, (low, high)):
            if not torch.allclose(a, b, atol=1e-10):
                raise AssertionError(f"{name} formulation disagrees with dwt1d by {(a - b).abs().max():.2e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    timing.add_arguments(parser, ["8x128x64x64"])
    parser.add_argument("--compiled", action="store_true", help="also time torch.compile'd formulations (minutes)")
    args = parser.parse_args(argv)
    session = timing.start(args, ["8x128x64x64"], ["2x8x64x64"])
    rows = []
    for shape in session.shapes:
        x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        check_exact(x)
        found = cases(x) + (compiled_cases(x) if args.compiled else [])
        clone_ms = None
        for label, kind, fn in found:
            session.log(label)
            m = timing.measure(fn, **session.opts)
            clone_ms = clone_ms or m.median_ms
            rows.append(dict(shape=list(shape), formulation=label, result=kind, time=m, x_clone=m.median_ms / clone_ms))
    print(f"## One 9/7 analysis pass along one axis, {' '.join(map(str, session.shapes))} float32\n")
    print(timing.describe(session.info, session.idle_cores) + "\n")
    cells = [[r["formulation"], r["result"], timing.fmt(r["time"].median_ms, 2), timing.fmt(r["x_clone"], 1),
              timing.fmt(r["time"].foreign_cores, 2)] for r in rows]
    print(timing.markdown_table(["formulation", "result", "ms", "x clone", "foreign (cores)"], cells))
    if args.json:
        timing.write_json(args.json, session, args, rows)


if __name__ == "__main__":
    main()
