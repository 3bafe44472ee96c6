"""The native kernels alone: the four maps of one 9/7 level (analysis ``A``, ``Aᵀ``, synthesis ``S``,
``Sᵀ``) on 1024 planes through ctypes, one thread, for this checkout's C source and, with ``--vs REV``,
the same source at a git revision, timed in alternation (first quartile of ``--repeat`` rounds).

    .venv/bin/python benchmarks/bench_native_kernels.py                   # this tree
    .venv/bin/python benchmarks/bench_native_kernels.py --vs 804c978      # A/B against a revision
    .venv/bin/python benchmarks/bench_native_kernels.py --quick --json out.json   # smoke run

With ``--vs`` the ``max diff`` column is the largest difference between the two builds' outputs of
the same inputs (0: bit-identical).

Both builds use the flags wavelayers uses (``-O3 -march=native``). Revisions before cbdaa4a wrote the
analysis as one band stack; the script passes each build the buffers its interface takes.
"""
from __future__ import annotations

import argparse
import ctypes
import json
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


def calls(fn, two_buffers: bool, inputs: dict, periodic: int) -> tuple[dict, dict, object]:
    """The four maps of this build as closures over its own output buffers, those outputs, and what
    brings a one-stack analysis result into them (untimed)."""
    x, ll, highs = inputs["x"], inputs["ll"], inputs["highs"]
    planes, side = x.shape[0], x.shape[-1]
    m = side // 2
    band, plane = m * m, side * side
    outs = {"A": (torch.empty_like(ll), torch.empty_like(highs)), "Aᵀ": torch.empty_like(x), "S": torch.empty_like(x),
            "Sᵀ": (torch.empty_like(ll), torch.empty_like(highs))}
    stack_in = torch.cat((ll[:, None], highs), dim=1)
    stack_out = torch.empty(planes, 4, m, m)
    n, parity, coef, two_taps, low, high = _native._scheme_args("bior4.4")
    tail = (planes, side, side, n, parity, coef, two_taps, periodic, low, high, 1)
    p = lambda t: t.data_ptr()  # noqa: E731
    a_ll, a_highs = outs["A"]
    if two_buffers:
        analysis = lambda: fn(0, 0, p(x), None, p(a_ll), p(a_highs), plane, 0, *tail)  # noqa: E731
        analysis_t = lambda: fn(1, 0, p(ll), p(highs), p(outs["Aᵀ"]), None, band, 3 * band, *tail)  # noqa: E731
    else:  # one band stack; its bands are copied into the outputs after timing
        analysis = lambda: fn(0, 0, p(x), None, p(stack_out), None, plane, 0, *tail)  # noqa: E731
        analysis_t = lambda: fn(1, 0, p(stack_in), None, p(outs["Aᵀ"]), None, 4 * band, 0, *tail)  # noqa: E731
    maps = {
        "A": analysis,
        "Aᵀ": analysis_t,
        "S": lambda: fn(2, 0, p(ll), p(highs), p(outs["S"]), None, band, 3 * band, *tail),
        "Sᵀ": lambda: fn(3, 0, p(x), None, p(outs["Sᵀ"][0]), p(outs["Sᵀ"][1]), plane, 0, *tail),
    }

    def unstack() -> None:
        if not two_buffers:
            a_ll.copy_(stack_out[:, 0])
            a_highs.copy_(stack_out[:, 1:])

    return maps, outs, unstack


def _flat(t) -> torch.Tensor:
    return torch.cat([u.flatten() for u in t]) if isinstance(t, tuple) else t.flatten()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vs", help="a git revision whose C source is timed beside this tree's")
    parser.add_argument("--planes", type=int, default=1024)
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="8 planes of 16x16, 2 rounds (a smoke run)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if args.quick:
        args.planes, args.sides, args.repeat = 8, [16], 2
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        builds = {"this tree": build(ROOT / "wavelayers" / "csrc", Path(tmp) / "this.so")}
        if args.vs:
            other = checkout(args.vs, Path(tempfile.mkdtemp(dir=tmp)))
            builds[args.vs] = build(other, Path(tmp) / "other.so")
        names = list(builds)
        extra = " ratio | max diff |" if args.vs else ""
        print(f"| mode | map | planes | {' | '.join(f'{n} ms' for n in names)} |{extra}")
        print("|---|---|---|" + "---:|" * (len(names) + (2 if args.vs else 0)))
        for periodic, mode in ((0, "jpeg2000"), (1, "periodization")):
            for side in args.sides:
                m = side // 2
                inputs = {"x": torch.randn(args.planes, side, side), "ll": torch.randn(args.planes, m, m),
                          "highs": torch.randn(args.planes, 3, m, m)}
                built = {name: calls(*builds[name], inputs, periodic) for name in names}
                for op in ("A", "Aᵀ", "S", "Sᵀ"):
                    times = {name: [] for name in names}
                    for _ in range(args.repeat):
                        for name in names:
                            start = time.perf_counter()
                            if built[name][0][op]() != 0:
                                raise RuntimeError(f"{name}: {op} failed")
                            times[name].append(time.perf_counter() - start)
                    if op == "A":
                        for name in names:
                            built[name][2]()
                    q1 = {name: sorted(t)[len(t) // 4] * 1e3 for name, t in times.items()}
                    row = {"mode": mode, "map": op, "planes": args.planes, "side": side, "ms": q1}
                    cells = " | ".join(f"{q1[name]:.3f}" for name in names)
                    if args.vs:
                        row["ratio"] = q1[names[0]] / q1[names[1]]
                        row["max_diff"] = (_flat(built[names[0]][1][op]) - _flat(built[names[1]][1][op])).abs().max().item()
                        cells += f" | {row['ratio']:.2f} | {row['max_diff']:.1e}"
                    rows.append(row)
                    print(f"| {mode} | {op} | {args.planes} x {side}x{side} | {cells} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
