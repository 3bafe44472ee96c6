"""2-level 2D DWT+IDWT: wavelayers against pytorch_wavelets and ptwt, with a memory pass and a 3x3 conv as
yardsticks, side by side in one run (CPU, float32).

    .venv/bin/python benchmarks/bench_transforms.py                        # the docs/benchmarks.md table
    .venv/bin/python benchmarks/bench_transforms.py --quick                # tiny shapes: a smoke test
    .venv/bin/python benchmarks/bench_transforms.py --shapes 8x128x64x64 --json out.json

Backends: ``native`` (the C lifting kernels, the default on CPU in float32; not for 16-bit inputs),
``matrix`` (the exact matrices, the default elsewhere eagerly), ``lifting`` (the tensor-free steps
the compiled cases use).

Columns: ``fwd`` = DWT then IDWT under ``no_grad``; ``f+b`` = the same with autograd and a backward pass to
the input (given a random cotangent). Yardsticks: ``clone`` (one read + one write of the tensor) and
``Conv2d(C, C, 3, padding=1)`` (fwd; f+b computes the gradients of input, weight and bias). ``× clone`` =
fwd / clone fwd; ``× pw`` = time / pytorch_wavelets' time for the same wavelet in the matching boundary
family (symmetric extensions against pw ``symmetric``, periodic ones against pw ``periodization``).
``coef×`` = coefficients / input samples. ``rec err`` = max |x - IDWT(DWT(x))| for x ~ N(0, 1), float32.
``DWT grad err`` = dot-product test of the DWT's backward pass in float64 (on one sample, 4 channels):
``|<c, D v> - <D^T c, v>| / (|c| |D v|)`` for random v and c, ~1e-16 when the gradient is exact.
``foreign`` = CPU cores other processes used while the case ran (see timing.py).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing  # noqa: E402

from wavelayers import DWT2D, IDWT2D, use_backend  # noqa: E402
from wavelayers._native import status as native_status, supports as native_supports  # noqa: E402

LEVELS = 2
DEFAULT_SHAPES = ["8x128x64x64", "1x192x128x192"]
QUICK_SHAPES = ["2x8x32x24"]
WAVELETS = ["haar", "bior2.2", "bior4.4"]
WAVELET_LABEL = {"haar": "haar", "bior2.2": "5/3 (bior2.2)", "bior4.4": "9/7 (bior4.4)"}


class Transform:
    """A 2-level DWT / IDWT pair of one library: ``dwt(x) -> coeffs``, ``idwt(coeffs, x) -> x_rec`` (cropped
    to ``x``'s size), ``flat(coeffs)`` -> the coefficient tensors."""

    def __init__(self, dwt, idwt, flat) -> None:
        self.dwt, self.idwt, self.flat = dwt, idwt, flat

    def roundtrip(self, x: Tensor) -> Tensor:
        return self.idwt(self.dwt(x), x)


def wavelayers_transform(wavelet: str, mode: str, dtype: torch.dtype, backend: str = "auto",
                         compiled: bool = False) -> Transform:
    dwt, idwt = DWT2D(wavelet, levels=LEVELS, mode=mode), IDWT2D(wavelet, mode=mode)

    def roundtrip(x: Tensor) -> Tensor:
        return idwt(*dwt(x))

    def in_backend(fn):
        def call(*args):
            with use_backend(backend):
                return fn(*args)
        return call

    rt = torch.compile(roundtrip, dynamic=False) if compiled else roundtrip
    t = Transform(in_backend(dwt), in_backend(lambda c, x: idwt(c[0], c[1], size=x.shape[-2:])),
                  lambda c: [c[0], *c[1]])
    t.roundtrip = in_backend(rt)
    return t


def _wl(backend: str, compiled: bool = False):
    return lambda wavelet, mode, dtype: wavelayers_transform(wavelet, mode, dtype, backend, compiled)


def pytorch_wavelets_transform(wavelet: str, mode: str, dtype: torch.dtype) -> Transform:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation
        from pytorch_wavelets import DWTForward, DWTInverse
    dwt = DWTForward(J=LEVELS, wave=wavelet, mode=mode).to(dtype)
    idwt = DWTInverse(wave=wavelet, mode=mode).to(dtype)
    return Transform(dwt, lambda c, x: idwt(c)[..., : x.shape[-2], : x.shape[-1]], lambda c: [c[0], *c[1]])


def ptwt_transform(wavelet: str, mode: str, dtype: torch.dtype) -> Transform:
    import ptwt

    return Transform(
        lambda x: ptwt.wavedec2(x, wavelet, mode=mode, level=LEVELS),
        lambda c, x: ptwt.waverec2(c, wavelet)[..., : x.shape[-2], : x.shape[-1]],
        lambda c: [c[0], *(band for level in c[1:] for band in level)],
    )


def adjoint_error(transform: Transform, shape: tuple[int, ...]) -> float:
    """Dot-product test of the DWT's backward pass in float64: for the linear map D,
    ``<c, D v> == <D^T c, v>``; returns ``|<c, D v> - <VJP(c), v>| / (|c| |D v|)``."""
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    coeffs = transform.flat(transform.dwt(v))
    cots = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in coeffs]
    vjp = torch.autograd.grad(coeffs, v, cots)[0]
    lhs = sum((c * t).sum() for c, t in zip(cots, coeffs))
    norm = torch.sqrt(sum((c * c).sum() for c in cots) * sum((t * t).sum() for t in coeffs))
    return (abs(lhs - (vjp * v).sum()) / norm).item()


# (implementation, mode, boundary family for the "× pw" ratio, factory)
IMPLEMENTATIONS = [
    ("wavelayers native", "jpeg2000", "symmetric", _wl("native")),
    ("wavelayers matrix", "jpeg2000", "symmetric", _wl("matrix")),
    ("wavelayers lifting", "jpeg2000", "symmetric", _wl("lifting")),
    ("wavelayers native", "periodization", "periodic", _wl("native")),
    ("wavelayers matrix", "periodization", "periodic", _wl("matrix")),
    ("wavelayers lifting", "periodization", "periodic", _wl("lifting")),
    ("pytorch_wavelets", "symmetric", "symmetric", pytorch_wavelets_transform),
    ("pytorch_wavelets", "periodization", "periodic", pytorch_wavelets_transform),
    ("ptwt", "symmetric", "symmetric", ptwt_transform),
    ("ptwt", "periodic", "periodic", ptwt_transform),
]
# torch.compile (inductor) cases, fwd only (--compiled): compile time is minutes on a busy 2-core CPU
COMPILED = [
    ("wavelayers matrix compiled", "jpeg2000", "symmetric", _wl("matrix", True)),
    ("wavelayers lifting compiled", "jpeg2000", "symmetric", _wl("lifting", True)),
]
PW_MODE = {"symmetric": "symmetric", "periodic": "periodization"}


def bench_shape(shape: tuple[int, ...], wavelets: list[str], opts: dict, log, dtype: torch.dtype = torch.float32,
                compiled: bool = False) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(dtype)
    g = torch.randn(shape, generator=gen).to(dtype)
    rows: list[dict] = []

    def record(**row) -> dict:
        row["shape"] = "x".join(map(str, shape))
        row["dtype"] = str(dtype).removeprefix("torch.")
        rows.append(row)
        fb = row["fb"] or row["fwd"]
        log(f"  {row['impl']:>17} {row['mode']:>13} {row['wavelet']:>8}: fwd {row['fwd'].median_ms:8.2f} ms, "
            f"f+b {fb.median_ms:8.2f} ms, foreign {row['fwd'].foreign_cores:.2f}/{fb.foreign_cores:.2f}")
        return row

    def clone_fb() -> None:
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(xg.clone(), xg, g)

    with torch.no_grad():
        fwd = timing.measure(x.clone, **opts)
    record(impl="clone", mode="–", wavelet="–", fwd=fwd, fb=timing.measure(clone_fb, **opts))

    C = shape[1]
    conv = nn.Conv2d(C, C, 3, padding=1).to(dtype)

    def conv_fwd() -> None:
        with torch.no_grad():
            conv(x)

    def conv_fb() -> None:
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(conv(xg), [xg, conv.weight, conv.bias], g)

    record(impl=f"conv3x3 {C}->{C}", mode="–", wavelet="–", fwd=timing.measure(conv_fwd, **opts),
           fb=timing.measure(conv_fb, **opts))

    for wavelet in wavelets:
        for impl, mode, family, factory in IMPLEMENTATIONS + (COMPILED if compiled else []):
            if impl == "wavelayers native" and not native_supports(wavelet, mode, shape[-2:], x):
                log(f"  {impl} {mode} {wavelet}: skipped (native kernels: {native_status()}, {dtype})")
                continue
            try:
                transform = factory(wavelet, mode, dtype)
                with torch.no_grad():
                    coeffs = transform.dwt(x)
                    rec = transform.idwt(coeffs, x)
                    transform.roundtrip(x)  # compiles the compiled cases
            except Exception as exc:  # noqa: BLE001 (a peer library without this dtype: skip the row)
                log(f"  {impl} {mode} {wavelet}: skipped ({type(exc).__name__}: {exc})"[:200])
                continue

            def fwd() -> None:
                with torch.no_grad():
                    transform.roundtrip(x)

            def fb() -> None:
                xg = x.detach().requires_grad_(True)
                torch.autograd.grad(transform.roundtrip(xg), xg, g)

            count = sum(t.numel() for t in transform.flat(coeffs))
            is_compiled = impl.endswith("compiled")
            adjoint = float("nan") if is_compiled else adjoint_error(
                factory(wavelet, mode, torch.float64), (1, min(C, 4), *shape[2:]))
            record(impl=impl, mode=mode, wavelet=wavelet, family=family,
                   fwd=timing.measure(fwd, **opts), fb=None if is_compiled else timing.measure(fb, **opts),
                   coef_ratio=count / x.numel(), rec_err=(rec.float() - x.float()).abs().max().item(),
                   adjoint_err=adjoint)
    return rows


def add_ratios(rows: list[dict]) -> None:
    """``× clone`` and ``× pw`` per row (pw: same shape and wavelet, matching boundary family)."""
    by_shape: dict[str, dict] = {}
    for r in rows:
        by_shape.setdefault((r["shape"], r["dtype"]), {})[(r["impl"], r["mode"], r["wavelet"])] = r
    for r in rows:
        same = by_shape[(r["shape"], r["dtype"])]
        clone = same[("clone", "–", "–")]
        r["x_clone"] = r["fwd"].median_ms / clone["fwd"].median_ms
        pw = same.get(("pytorch_wavelets", PW_MODE.get(r.get("family", ""), ""), r["wavelet"]))
        r["fwd_x_pw"] = r["fwd"].median_ms / pw["fwd"].median_ms if pw else float("nan")
        r["fb_x_pw"] = r["fb"].median_ms / pw["fb"].median_ms if (pw and r["fb"]) else float("nan")


def table(rows: list[dict]) -> str:
    headers = ["shape", "dtype", "wavelet", "implementation", "mode", "fwd ms", "f+b ms", "fwd × clone", "fwd × pw",
               "f+b × pw", "coef×", "rec err", "DWT grad err", "foreign (cores)"]
    body = []
    for r in rows:
        body.append([
            r["shape"], r["dtype"], WAVELET_LABEL.get(r["wavelet"], r["wavelet"]), r["impl"], r["mode"],
            timing.fmt(r["fwd"].median_ms), timing.fmt(r["fb"].median_ms if r["fb"] else float("nan")),
            timing.fmt(r["x_clone"]),
            timing.fmt(r["fwd_x_pw"]), timing.fmt(r["fb_x_pw"]),
            f"{r['coef_ratio']:.2f}" if "coef_ratio" in r else "–",
            f"{r['rec_err']:.1e}" if "rec_err" in r else "–",
            f"{r['adjoint_err']:.0e}" if r.get("adjoint_err", float("nan")) == r.get("adjoint_err") else "–",
            f"{max(r['fwd'].foreign_cores, (r['fb'] or r['fwd']).foreign_cores):.2f}",
        ])
    return timing.markdown_table(headers, body, left=4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    timing.add_arguments(parser, DEFAULT_SHAPES)
    parser.add_argument("--wavelets", nargs="+", default=WAVELETS, help="wavelet names (default haar bior2.2 bior4.4)")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], help="float32 and/or bfloat16 (default float32)")
    parser.add_argument("--compiled", action="store_true", help="also time torch.compile'd wavelayers (minutes)")
    args = parser.parse_args(argv)
    session = timing.start(args, DEFAULT_SHAPES, QUICK_SHAPES)

    rows: list[dict] = []
    for shape in session.shapes:
        session.log(f"shape {shape}")
        for name in args.dtypes:
            rows += bench_shape(shape, args.wavelets, session.opts, session.log, getattr(torch, name), args.compiled)
    add_ratios(rows)

    print(f"## {LEVELS}-level 2D DWT+IDWT, {', '.join(args.dtypes)}\n")
    print(timing.describe(session.info, session.idle_cores) + "\n")
    print(table(rows))
    if args.json:
        timing.write_json(args.json, session, args, rows)


if __name__ == "__main__":
    main()
