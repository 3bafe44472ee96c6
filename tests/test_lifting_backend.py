"""The lifting backend against PyWavelets, the NumPy lifting reference and the exact matrices; exact
gradients by gradcheck; the backend switch and the bounded operator caches."""
from __future__ import annotations

import math

import numpy as np
import pytest
import pywt
import torch
from torch.autograd import gradcheck

import lifting_reference as ref
import wavelayers
from wavelayers import _lifting, dwt1d, dwt2d, idwt1d, idwt2d, use_backend
from wavelayers.operators import CACHE_SIZE, analysis_matrix, choose_backend, operator_pair, synthesis_matrix

WAVELETS = ["haar", "bior2.2", "bior4.4"]
MODES = ["jpeg2000", "periodization"]
LENGTHS = [2, 3, 4, 5, 8, 9, 16, 17, 33]
TOL = 1e-10  # PyWavelets' 9/7 taps carry fewer digits than the lifting constants


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", LENGTHS)
def test_lifting_equals_the_exact_matrices(wavelet: str, mode: str, n: int, rng: np.random.Generator) -> None:
    A, S = analysis_matrix(wavelet, mode, n), synthesis_matrix(wavelet, mode, n)
    m = A.shape[0] // 2
    x = rng.standard_normal((3, n))
    lo, hi = _lifting.analysis(_t(x), -1, wavelet, mode)
    np.testing.assert_allclose(np.concatenate([lo, hi], -1), x @ A.T, rtol=0, atol=TOL)
    c = rng.standard_normal((3, 2 * m))  # any coefficients, the redundant one included
    y = _lifting.synthesis(_t(c[:, :m]), _t(c[:, m:]), n, -1, wavelet, mode)
    np.testing.assert_allclose(y, c @ S.T, rtol=0, atol=TOL)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("n", LENGTHS)
def test_lifting_periodization_equals_pywt(wavelet: str, n: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(n)
    with use_backend("lifting"):
        lo, hi = dwt1d(_t(x), wavelet, mode="periodization")
    cA, cD = pywt.dwt(x, wavelet, mode="periodization")
    np.testing.assert_allclose(lo, cA, rtol=0, atol=TOL)
    np.testing.assert_allclose(hi, cD, rtol=0, atol=TOL)


@pytest.mark.parametrize("n", [2, 3, 4, 7, 10, 31])
def test_lifting_jpeg2000_equals_the_numpy_lifting_reference(n: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(n)
    # PyWavelets' normalisation: low = sqrt(2) * the standard's, high = -(1/sqrt 2) (5/3), -sqrt(2) (9/7)
    for wavelet, reference, hi_scale in (("bior2.2", ref.dwt53, -1 / math.sqrt(2)), ("bior4.4", ref.dwt97, -math.sqrt(2))):
        lo_ref, hi_ref = reference(x)
        lo, hi = _lifting.analysis(_t(x), -1, wavelet, "jpeg2000")
        np.testing.assert_allclose(lo, math.sqrt(2) * lo_ref, rtol=0, atol=TOL)
        np.testing.assert_allclose(hi[: n // 2], hi_scale * hi_ref, rtol=0, atol=TOL)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(9, 13), (16, 6), (2, 5)])
def test_lifting_2d_levels_equal_the_matrix_backend(wavelet: str, mode: str, size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    levels = 2 if min(size) >= 4 else 1
    with use_backend("matrix"):
        ll_m, highs_m = dwt2d(x, wavelet, levels=levels, mode=mode)
    with use_backend("lifting"):
        ll, highs = dwt2d(x, wavelet, levels=levels, mode=mode)
        torch.testing.assert_close(ll, ll_m, rtol=0, atol=TOL)
        for a, b in zip(highs, highs_m):
            torch.testing.assert_close(a, b, rtol=0, atol=TOL)
        rec = idwt2d(ll, highs)
        torch.testing.assert_close(rec, x, rtol=0, atol=TOL)
        coeffs = [torch.randn_like(h) for h in highs_m]  # synthesis of arbitrary bands = the matrices'
        got = idwt2d(ll_m, coeffs, wavelet, mode=mode, size=size)
    with use_backend("matrix"):
        torch.testing.assert_close(got, idwt2d(ll_m, coeffs, wavelet, mode=mode, size=size), rtol=0, atol=TOL)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
def test_lifting_gradients_pass_gradcheck(wavelet: str, mode: str) -> None:
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    with use_backend("lifting"):
        assert gradcheck(lambda t: _lifting.analysis2d(t, wavelet, mode), (x,))
        ll = torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True)
        hi = torch.randn(1, 2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
        assert gradcheck(lambda a, b: _lifting.synthesis2d(a, b, (7, 6), wavelet, mode), (ll, hi))
        v = torch.randn(3, 9, dtype=torch.float64, requires_grad=True)
        assert gradcheck(lambda t: tuple(dwt1d(t, wavelet, mode=mode)), (v,))
        lo = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
        assert gradcheck(lambda a, b: idwt1d(a, b, wavelet, mode=mode, size=9), (lo, lo.detach().clone().requires_grad_()))


def test_backend_rule_and_switch() -> None:
    assert choose_backend("bior4.4", "jpeg2000", 64) == "dense"
    assert choose_backend("bior4.4", "jpeg2000", 500) == "banded"
    with use_backend("lifting"):
        assert choose_backend("bior4.4", "jpeg2000", 64) == "lifting"
        assert choose_backend("bior4.4", "jpeg2000", 1) == "dense"  # lifting needs two samples
        assert choose_backend("db2", "periodization", 64) == "dense"
        assert choose_backend("bior4.4", "symmetric", 64) == "dense"
    assert choose_backend("bior4.4", "jpeg2000", 64) == "dense"
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        with use_backend("fast"):
            pass


def test_operator_caches_are_bounded_and_clearable() -> None:
    wavelayers.clear_caches()
    for n in range(2, CACHE_SIZE + 12):
        operator_pair("haar", "periodization", n, torch.device("cpu"), torch.float32)
    info = wavelayers.cache_info()["operator_pair"]
    assert info["size"] == CACHE_SIZE and info["misses"] == CACHE_SIZE + 10
    operator_pair("haar", "periodization", CACHE_SIZE + 11, torch.device("cpu"), torch.float32)
    assert wavelayers.cache_info()["operator_pair"]["hits"] == 1
    wavelayers.clear_caches()
    assert all(v["size"] == 0 for v in wavelayers.cache_info().values())
