"""The native kernels alone: the four maps of one 9/7 level (analysis ``A``, ``Aᵀ``, synthesis ``S``,
``Sᵀ``) on 1024 planes through ctypes, one thread, for this checkout's C source and, with ``--vs REV``,
the same source at a git revision, timed in alternation (first quartile of ``--repeat`` rounds).

    .venv/bin/python benchmarks/bench_native_kernels.py                   # this tree
    .venv/bin/python benchmarks/bench_native_kernels.py --vs 804c978      # A/B against a revision

Both builds use the flags wavelayers uses (``-O3 -march=native``). Revisions before cbdaa4a wrote the
analysis as one band stack; the script passes each build the buffers its interface takes.
"""
from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wavelayers import _native  # noqa: E402

SOURCES = ("lifting2d.c", "lifting2d_impl.h")
TWO_BUFFER_MARK = "0 analysis (a: x -> c: ll, d: highs)"  # the interface since cbdaa4a


def build(source_dir: Path, out: Path) -> tuple[ctypes.CDLL, bool]:
    """Compile ``source_dir/lifting2d.c`` -> (the loaded function, whether analysis takes two buffers)."""
    cmd = ["cc", *_native._FLAGS, "-march=native", str(source_dir / "lifting2d.c"), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    fn = ctypes.CDLL(str(out)).wl_lifting2d
    fn.restype = ctypes.c_int
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ptr, ptr, ptr, ptr, i64, i64, i64, i64, i64, ctypes.c_int,
                   ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double), ctypes.c_int,
                   ctypes.c_int, ctypes.c_double, ctypes.c_double, ctypes.c_int]
    return fn, TWO_BUFFER_MARK in (source_dir / "lifting2d.c").read_text()


def checkout(rev: str, into: Path) -> Path:
    for name in SOURCES:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:wavelayers/csrc/{name}"], check=True,
                              capture_output=True, text=True).stdout
        (into / name).write_text(text)
    return into


def calls(fn, two_buffers: bool, planes: int, side: int, periodic: int) -> dict:
    """The four maps of this build as closures over fresh buffers."""
    m = side // 2
    band, plane = m * m, side * side
    x, y = torch.randn(planes, side, side), torch.empty(planes, side, side)
    ll, highs = torch.randn(planes, m, m), torch.randn(planes, 3, m, m)
    stack = torch.randn(planes, 4, m, m)
    n, parity, coef, two_taps, low, high = _native._scheme_args("bior4.4")
    tail = (planes, side, side, n, parity, coef, two_taps, periodic, low, high, 1)
    p = lambda t: t.data_ptr()  # noqa: E731
    if two_buffers:
        analysis = lambda: fn(0, 0, p(x), None, p(ll), p(highs), plane, 0, *tail)  # noqa: E731
        analysis_t = lambda: fn(1, 0, p(ll), p(highs), p(y), None, band, 3 * band, *tail)  # noqa: E731
    else:
        analysis = lambda: fn(0, 0, p(x), None, p(stack), None, plane, 0, *tail)  # noqa: E731
        analysis_t = lambda: fn(1, 0, p(stack), None, p(y), None, 4 * band, 0, *tail)  # noqa: E731
    return {
        "A": analysis,
        "Aᵀ": analysis_t,
        "S": lambda: fn(2, 0, p(ll), p(highs), p(y), None, band, 3 * band, *tail),
        "Sᵀ": lambda: fn(3, 0, p(x), None, p(ll), p(highs), plane, 0, *tail),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vs", help="a git revision whose C source is timed beside this tree's")
    parser.add_argument("--planes", type=int, default=1024)
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        builds = {"this tree": build(ROOT / "wavelayers" / "csrc", Path(tmp) / "this.so")}
        if args.vs:
            other = checkout(args.vs, Path(tempfile.mkdtemp(dir=tmp)))
            builds[args.vs] = build(other, Path(tmp) / "other.so")
        names = list(builds)
        print(f"| mode | map | planes | {' | '.join(f'{n} ms' for n in names)} |" + (" ratio |" if args.vs else ""))
        print("|---|---|---|" + "---:|" * len(names) + ("---:|" if args.vs else ""))
        for periodic, mode in ((0, "jpeg2000"), (1, "periodization")):
            for side in args.sides:
                maps = {name: calls(*builds[name], args.planes, side, periodic) for name in names}
                for op in ("A", "Aᵀ", "S", "Sᵀ"):
                    times = {name: [] for name in names}
                    for _ in range(args.repeat):
                        for name in names:
                            start = time.perf_counter()
                            if maps[name][op]() != 0:
                                raise RuntimeError(f"{name}: {op} failed")
                            times[name].append(time.perf_counter() - start)
                    q1 = {name: sorted(t)[len(t) // 4] * 1e3 for name, t in times.items()}
                    row = " | ".join(f"{q1[name]:.3f}" for name in names)
                    ratio = f" {q1[names[0]] / q1[names[1]]:.2f} |" if args.vs else ""
                    print(f"| {mode} | {op} | {args.planes} x {side}x{side} | {row} |{ratio}", flush=True)


if __name__ == "__main__":
    main()
