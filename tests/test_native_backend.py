"""The native (C) backend against PyWavelets, the NumPy lifting reference and the exact matrices; exact
gradients of every order (gradcheck, gradgradcheck, forward mode, the dot-product test); the layouts and
threads it accepts; where it does not apply; how it is built, cached and switched off."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pywt
import torch
from torch.autograd import gradcheck, gradgradcheck

import lifting_reference as ref
from wavelayers import _native, dwt2d, idwt2d, use_backend
from wavelayers.operators import native_level_operator

pytestmark = pytest.mark.skipif(not _native.available(), reason=f"native backend {_native.status()}")

WAVELETS = ["haar", "bior2.2", "bior4.4"]
MODES = ["jpeg2000", "periodization"]
SIZES = [(2, 2), (2, 3), (3, 5), (4, 4), (5, 8), (7, 9), (8, 17), (16, 11)]
TOL = 1e-10  # PyWavelets' 9/7 taps carry fewer digits than the lifting constants
ROOT = Path(__file__).resolve().parents[1]


def _bands(coeffs) -> torch.Tensor:
    ll, highs = coeffs
    return torch.cat([ll.flatten()] + [h.flatten() for h in highs])


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
def test_native_equals_the_exact_matrices(wavelet: str, mode: str, size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    levels = 2 if min(size) >= 4 else 1
    with use_backend("matrix"):
        expected = dwt2d(x, wavelet, levels=levels, mode=mode)
        c = (torch.randn_like(expected.ll), [torch.randn_like(h) for h in expected.highs])  # any coefficients
        rebuilt = idwt2d(c[0], c[1], wavelet, mode=mode, size=size)
    with use_backend("native"):
        got = dwt2d(x, wavelet, levels=levels, mode=mode)
        got_rebuilt = idwt2d(c[0], c[1], wavelet, mode=mode, size=size)
    torch.testing.assert_close(_bands(got), _bands(expected), rtol=0, atol=TOL)
    torch.testing.assert_close(got_rebuilt, rebuilt, rtol=0, atol=TOL)


def _jpeg2000_level_equals_the_matrices(x: torch.Tensor, wavelet: str, size: tuple[int, int],
                                        dtype: torch.dtype) -> None:
    """One jpeg2000 level of float64 ``x`` and the synthesis of arbitrary coefficients, native in
    ``dtype`` against the float64 matrices."""
    with use_backend("matrix"):
        expected = dwt2d(x, wavelet, mode="jpeg2000")
        c = (torch.randn_like(expected.ll), [torch.randn_like(h) for h in expected.highs])
        rebuilt = idwt2d(c[0], c[1], wavelet, mode="jpeg2000", size=size)
    with use_backend("native"):
        got = dwt2d(x.to(dtype), wavelet, mode="jpeg2000")
        got_rebuilt = idwt2d(c[0].to(dtype), [h.to(dtype) for h in c[1]], wavelet, mode="jpeg2000", size=size)
    tol = TOL if dtype == torch.float64 else 2e-5
    torch.testing.assert_close(_bands(got).double(), _bands(expected), rtol=0, atol=tol)
    torch.testing.assert_close(got_rebuilt.double(), rebuilt, rtol=0, atol=tol)


@pytest.mark.parametrize("wavelet", ["bior2.2", "bior4.4"])
@pytest.mark.parametrize("size", [(4, 2), (6, 21), (24, 40), (130, 258)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_h_pipeline_equals_the_exact_matrices(wavelet: str, size: tuple[int, int], dtype: torch.dtype) -> None:
    """Even heights under jpeg2000 take the one-pass H pipeline: band heights 2 (its shortest), column
    runs of 16, 8 and single columns, and a plane over FUSED_COPY_BYTES (its synthesis copies in first)."""
    _jpeg2000_level_equals_the_matrices(torch.randn(2, *size, dtype=torch.float64), wavelet, size, dtype)


@pytest.mark.parametrize("wavelet", ["bior2.2", "bior4.4"])
@pytest.mark.parametrize("size", [(6, 16), (7, 32), (2, 48), (9, 80), (12, 34)])
def test_fused_w_rows_equal_the_exact_matrices(wavelet: str, size: tuple[int, int]) -> None:
    """float32 rows of 16, 32, 48 and 80 samples (band rows of 1, 2, 3 and 5 vectors of 8) take the
    W steps in registers, with even and odd heights; 34 (17 per band row) keeps the flat passes."""
    _jpeg2000_level_equals_the_matrices(torch.randn(3, *size, dtype=torch.float64), wavelet, size, torch.float32)


def _vjps(x: torch.Tensor, c: tuple, size: tuple[int, int], wavelet: str) -> tuple[torch.Tensor, ...]:
    """Aᵀ c (the gradient of dwt2d) and Sᵀ x (of idwt2d) by autograd."""
    v = x.clone().requires_grad_()
    ll, (h,) = dwt2d(v, wavelet, mode="jpeg2000")
    (g_x,) = torch.autograd.grad((ll, h), v, c)
    a, b = (t.clone().requires_grad_() for t in c)
    g_ll, g_h = torch.autograd.grad(idwt2d(a, [b], wavelet, mode="jpeg2000", size=size), (a, b), x)
    return g_x, g_ll, g_h


@pytest.mark.parametrize("wavelet", ["bior2.2", "bior4.4"])
@pytest.mark.parametrize("size", [(6, 16), (7, 32), (2, 48), (9, 80)])
def test_fused_w_rows_backward_equals_the_exact_matrices(wavelet: str, size: tuple[int, int]) -> None:
    """The transposed W steps in registers (float32, both ends of the row) against the matrices' exact
    backward in float64."""
    x = torch.randn(3, *size, dtype=torch.float64)
    with use_backend("matrix"):
        ll, (h,) = dwt2d(x, wavelet, mode="jpeg2000")
        c = (torch.randn_like(ll), torch.randn_like(h))
        expected = _vjps(x, c, size, wavelet)
    with use_backend("native"):
        got = _vjps(x.float(), tuple(t.float() for t in c), size, wavelet)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g.double(), e, rtol=0, atol=2e-5)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("size", [(4, 6), (5, 7), (9, 4)])
def test_native_periodization_equals_pywt(wavelet: str, size: tuple[int, int], rng: np.random.Generator) -> None:
    x = rng.standard_normal(size)
    with use_backend("native"):
        ll, (highs,) = dwt2d(torch.from_numpy(x), wavelet, mode="periodization")
    cA, details = pywt.dwt2(x, wavelet, mode="periodization")
    np.testing.assert_allclose(ll, cA, rtol=0, atol=TOL)
    np.testing.assert_allclose(highs, np.stack(details), rtol=0, atol=TOL)


@pytest.mark.parametrize("size", [(6, 8), (7, 5), (11, 10)])
def test_native_jpeg2000_equals_the_separable_numpy_lifting_reference(size: tuple[int, int], rng: np.random.Generator) -> None:
    """9/7 rows then columns with the standard's own lifting, rescaled to PyWavelets' normalisation."""
    x = rng.standard_normal(size)

    def axis(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # along the last axis
        pairs = [ref.dwt97(row) for row in a]
        lo = np.stack([p[0] for p in pairs]) * math.sqrt(2)
        hi = np.stack([p[1] for p in pairs]) * -math.sqrt(2)
        if a.shape[-1] % 2:  # the redundant mirrored coefficient the library keeps
            hi = np.concatenate([hi, hi[:, -1:]], -1)
        return lo, hi

    lo_w, hi_w = axis(x)
    (ll, lh), (hl, hh) = (tuple(b.T for b in axis(band.T)) for band in (lo_w, hi_w))
    with use_backend("native"):
        got_ll, (got_highs,) = dwt2d(torch.from_numpy(x), "bior4.4", mode="jpeg2000")
    np.testing.assert_allclose(got_ll, ll, rtol=0, atol=TOL)
    np.testing.assert_allclose(got_highs, np.stack([lh, hl, hh]), rtol=0, atol=TOL)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
def test_native_round_trip_is_perfect_in_float32(wavelet: str, mode: str) -> None:
    x = torch.randn(4, 8, 37, 50)
    with use_backend("native"):
        y = idwt2d(dwt2d(x, wavelet, levels=3, mode=mode))
    assert (y - x).abs().max() < 1e-5


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(3, 4), (5, 5)])
def test_native_gradients_of_every_order(wavelet: str, mode: str, size: tuple[int, int]) -> None:
    x = torch.randn(2, *size, dtype=torch.float64, requires_grad=True)
    coeffs = dwt2d(x.detach(), wavelet, mode=mode)
    ll = coeffs.ll.clone().requires_grad_()
    hi = coeffs.highs[0].clone().requires_grad_()

    def forward(t):
        ll, (h,) = dwt2d(t, wavelet, mode=mode)
        return ll, h

    def inverse(a, b):
        return idwt2d(a, [b], wavelet, mode=mode, size=size)

    with use_backend("native"):
        assert gradcheck(forward, (x,))
        assert gradgradcheck(forward, (x,))
        assert gradcheck(inverse, (ll, hi))
        assert gradgradcheck(inverse, (ll, hi))
        assert gradcheck(forward, (x,), check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False)
        assert gradcheck(inverse, (ll, hi), check_forward_ad=True, check_backward_ad=False,
                         check_undefined_grad=False)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
def test_native_backward_passes_the_dot_product_test(wavelet: str, mode: str) -> None:
    """<c, A v> == <Aᵀ c, v> for the analysis and <g, S c> == <Sᵀ g, c> for the synthesis (float64)."""
    v = torch.randn(3, 13, 10, dtype=torch.float64, requires_grad=True)
    with use_backend("native"):
        ll, (h,) = dwt2d(v, wavelet, mode=mode)
        c_ll, c_h = torch.randn_like(ll), torch.randn_like(h)
        (vjp,) = torch.autograd.grad((ll, h), v, (c_ll, c_h))
        lhs = (c_ll * ll).sum() + (c_h * h).sum()
        assert abs(lhs - (vjp * v).sum()) < 1e-12 * lhs.abs().clamp(min=1)
        a, b = c_ll.clone().requires_grad_(), c_h.clone().requires_grad_()
        y = idwt2d(a, [b], wavelet, mode=mode, size=(13, 10))
        g = torch.randn_like(y)
        g_a, g_b = torch.autograd.grad(y, (a, b), g)
        lhs = (g * y).sum()
        assert abs(lhs - (g_a * a).sum() - (g_b * b).sum()) < 1e-12 * lhs.abs().clamp(min=1)


def test_native_reads_strided_planes_without_a_copy_and_matches_contiguous() -> None:
    """Planes spaced apart (views into a larger tensor, as bands split from one stack are) are read in
    place: the results equal those of contiguous copies; non-contiguous planes are copied."""
    x = torch.randn(2, 5, 24, 20)
    stack = torch.randn(2, 5, 4, 12, 10)
    ll, highs = stack[:, :, 0], stack[:, :, 1:]  # planes 4 apart
    spaced = torch.randn(2, 5, 2, 24, 20)[:, :, 0]
    assert not highs.is_contiguous() and not spaced.is_contiguous()
    with use_backend("native"):
        a = idwt2d(ll, [highs], "bior4.4", size=(24, 20))
        b = idwt2d(ll.contiguous(), [highs.contiguous()], "bior4.4", size=(24, 20))
        c = dwt2d(spaced, "bior4.4")
        d = dwt2d(spaced.contiguous(), "bior4.4")
        view = x.transpose(-1, -2).contiguous().transpose(-1, -2)  # non-contiguous planes: copied
        e = dwt2d(view, "bior4.4")
        f = dwt2d(x, "bior4.4")
    assert torch.equal(a, b)
    assert torch.equal(_bands(c), _bands(d))
    assert torch.equal(_bands(e), _bands(f))


def test_native_is_the_same_with_one_or_two_threads() -> None:
    x = torch.randn(4, 16, 65, 66)  # enough values for two threads (_native._VALUES_PER_THREAD each)
    previous = torch.get_num_threads()
    try:
        with use_backend("native"):
            torch.set_num_threads(1)
            one = _bands(dwt2d(x, "bior4.4", levels=2))
            torch.set_num_threads(2)
            two = _bands(dwt2d(x, "bior4.4", levels=2))
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(one, two)


def test_native_is_the_default_on_cpu_where_it_applies() -> None:
    x = torch.randn(1, 2, 16, 16)
    assert native_level_operator("bior4.4", "jpeg2000", (16, 16), x) is not None
    assert native_level_operator("bior4.4", "periodization", (17, 16), x.double()) is not None
    assert native_level_operator("bior4.4", "jpeg2000", (15, 16), x) is None  # small planes: matrices
    with use_backend("native"):
        assert native_level_operator("bior4.4", "jpeg2000", (2, 3), x) is not None
    # where it does not apply: other wavelets and modes, 16-bit, short sides, autocast, other backends
    assert native_level_operator("db2", "periodization", (8, 8), x) is None
    assert native_level_operator("bior4.4", "symmetric", (8, 8), x) is None
    assert native_level_operator("bior4.4", "jpeg2000", (8, 8), x.bfloat16()) is None
    assert native_level_operator("bior4.4", "jpeg2000", (1, 8), x) is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert native_level_operator("bior4.4", "jpeg2000", (8, 8), x) is None
    with use_backend("matrix"):
        assert native_level_operator("bior4.4", "jpeg2000", (8, 8), x) is None


def test_native_steps_aside_under_vmap_and_compile() -> None:
    x = torch.randn(3, 2, 12, 10)
    with use_backend("matrix"):
        expected = _bands(dwt2d(x, "bior4.4", levels=2))
    batched = torch.vmap(lambda t: dwt2d(t, "bior4.4", levels=2))(x)
    torch.testing.assert_close(_bands(batched), expected, rtol=0, atol=1e-5)
    compiled = torch.compile(lambda t: dwt2d(t, "bior4.4", levels=2), backend="eager", fullgraph=True)
    torch.testing.assert_close(_bands(compiled(x)), expected, rtol=0, atol=1e-5)


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)


def test_native_builds_into_the_cache_once(tmp_path: Path) -> None:
    code = "from wavelayers import _native; print(_native.status())"
    first = _python(code, {"WAVELAYERS_CACHE": str(tmp_path)})
    assert first.stdout.strip() == "ok", first.stderr
    built = list((tmp_path / "native").glob("lifting2d-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    assert _python(code, {"WAVELAYERS_CACHE": str(tmp_path)}).stdout.strip() == "ok"
    assert built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not list((tmp_path / "native").glob(".lifting2d-*"))  # no temporary left behind


def test_native_can_be_switched_off_and_says_why_it_is_missing(tmp_path: Path) -> None:
    code = ("import torch; from wavelayers import _native, dwt2d, idwt2d; print(_native.status()); "
            "x = torch.randn(1, 1, 9, 8); print(float((idwt2d(dwt2d(x, 'bior4.4')) - x).abs().max()) < 1e-5)")
    off = _python(code, {"WAVELAYERS_NATIVE": "0", "WAVELAYERS_CACHE": str(tmp_path)})
    assert off.stdout.split("\n")[:2] == ["disabled by WAVELAYERS_NATIVE", "True"], off.stderr
    missing = _python(code, {"CC": "no-such-compiler", "WAVELAYERS_CACHE": str(tmp_path)})
    lines = missing.stdout.split("\n")
    assert lines[0].startswith("unavailable: no C compiler: 'no-such-compiler'"), missing.stderr
    assert lines[1] == "True"  # the transforms fall back to the other backends
