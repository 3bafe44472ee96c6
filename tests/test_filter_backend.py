"""The polyphase-filter backend (``wavelayers._filter``) against the exact matrices (built from the
taps by an independent construction, and checked S·A = I), PyWavelets, the NumPy lifting reference;
gradients by gradcheck; 16-bit inputs; the backend rule."""
from __future__ import annotations

import math

import numpy as np
import pytest
import pywt
import torch
from torch.autograd import gradcheck

import lifting_reference as ref
from wavelayers import _filter, dwt1d, dwt2d, idwt1d, idwt2d, use_backend
from wavelayers.operators import analysis_matrix, choose_backend, synthesis_matrix

TOL = 1e-10
CASES = [("bior2.2", "jpeg2000"), ("bior4.4", "jpeg2000"), ("bior2.4", "jpeg2000"), ("bior6.8", "jpeg2000"),
         ("haar", "periodization"), ("bior4.4", "periodization"), ("db2", "periodization"),
         ("sym4", "periodization"), ("coif1", "periodization")]
LENGTHS = [2, 3, 4, 5, 8, 9, 16, 17, 33, 64]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.mark.parametrize(("wavelet", "mode"), CASES)
def test_filter_equals_the_exact_matrices(wavelet: str, mode: str, rng: np.random.Generator) -> None:
    for n in LENGTHS:
        A, S = analysis_matrix(wavelet, mode, n), synthesis_matrix(wavelet, mode, n)
        m = A.shape[0] // 2
        x = rng.standard_normal((3, n, 2))
        lo, hi = _filter.analysis(_t(x), 1, wavelet, mode)  # along a middle axis
        np.testing.assert_allclose(np.concatenate([lo, hi], 1), np.einsum("rn,bnc->brc", A, x), rtol=0, atol=TOL)
        c = rng.standard_normal((3, 2 * m))  # any coefficients, the redundant one included
        y = _filter.synthesis(_t(c[:, :m]), _t(c[:, m:]), n, -1, wavelet, mode)
        np.testing.assert_allclose(y, c @ S.T, rtol=0, atol=TOL, err_msg=f"{wavelet}/{mode}/n={n}")


def test_filter_periodization_equals_pywt_and_jpeg2000_the_lifting_reference(rng: np.random.Generator) -> None:
    for n in (2, 3, 7, 10, 31):
        x = rng.standard_normal(n)
        for wavelet in ("db2", "bior4.4", "sym4"):
            lo, hi = _filter.analysis(_t(x), -1, wavelet, "periodization")
            cA, cD = pywt.dwt(x, wavelet, mode="periodization")
            np.testing.assert_allclose(lo, cA, rtol=0, atol=TOL)
            np.testing.assert_allclose(hi, cD, rtol=0, atol=TOL)
        # PyWavelets' normalisation: low = sqrt(2) * the standard's, high = -(1/sqrt 2) (5/3), -sqrt(2) (9/7)
        for wavelet, reference, hi_scale in (("bior2.2", ref.dwt53, -1 / math.sqrt(2)), ("bior4.4", ref.dwt97, -math.sqrt(2))):
            lo_ref, hi_ref = reference(x)
            lo, hi = _filter.analysis(_t(x), -1, wavelet, "jpeg2000")
            np.testing.assert_allclose(lo, math.sqrt(2) * lo_ref, rtol=0, atol=TOL)
            np.testing.assert_allclose(hi[: n // 2], hi_scale * hi_ref, rtol=0, atol=TOL)


@pytest.mark.parametrize(("wavelet", "mode"), [("bior4.4", "jpeg2000"), ("bior2.2", "jpeg2000"), ("db2", "periodization")])
@pytest.mark.parametrize("size", [(9, 13), (16, 6), (2, 5)])
def test_filter_2d_levels_equal_the_matrix_backend(wavelet: str, mode: str, size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    levels = 2 if min(size) >= 4 else 1
    with use_backend("matrix"):
        ll_m, highs_m = dwt2d(x, wavelet, levels=levels, mode=mode)
        coeffs = [torch.randn_like(h) for h in highs_m]
        expected = idwt2d(ll_m, coeffs, wavelet, mode=mode, size=size)
    with use_backend("filter"):
        ll, highs = dwt2d(x, wavelet, levels=levels, mode=mode)
        torch.testing.assert_close(ll, ll_m, rtol=0, atol=TOL)
        for a, b in zip(highs, highs_m):
            torch.testing.assert_close(a, b, rtol=0, atol=TOL)
        torch.testing.assert_close(idwt2d(ll, highs), x, rtol=0, atol=TOL)
        torch.testing.assert_close(idwt2d(ll_m, coeffs, wavelet, mode=mode, size=size), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize(("wavelet", "mode"), [("bior4.4", "jpeg2000"), ("db2", "periodization")])
def test_filter_gradients_pass_gradcheck(wavelet: str, mode: str) -> None:
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda t: _filter.analysis2d(t, wavelet, mode), (x,))
    ll = torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True)
    hi = torch.randn(1, 2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda a, b: _filter.synthesis2d(a, b, (7, 6), wavelet, mode), (ll, hi))
    with use_backend("filter"):
        v = torch.randn(3, 9, dtype=torch.float64, requires_grad=True)
        assert gradcheck(lambda t: tuple(dwt1d(t, wavelet, mode=mode)), (v,))
        lo = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
        assert gradcheck(lambda a, b: idwt1d(a, b, wavelet, mode=mode, size=9), (lo, lo.detach().clone().requires_grad_()))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_filter_16_bit_inputs_are_computed_in_float32(dtype: torch.dtype) -> None:
    """One rounding, at the end: each of the ~16 strided sums would round to 8 or 11 bits otherwise."""
    x = torch.randn(2, 3, 12, 10).to(dtype)
    with use_backend("filter"):
        ll, highs = dwt2d(x, "bior4.4")
        ll32, highs32 = dwt2d(x.float(), "bior4.4")
        rec = idwt2d(ll, highs)
    assert ll.dtype == highs[0].dtype == rec.dtype == dtype
    torch.testing.assert_close(ll, ll32.to(dtype), rtol=0, atol=0)
    torch.testing.assert_close(highs[0], highs32[0].to(dtype), rtol=0, atol=0)


def test_backend_rule() -> None:
    assert choose_backend("bior4.4", "jpeg2000", 64) == "dense"  # eagerly: matrices
    with use_backend("filter"):
        assert choose_backend("bior4.4", "jpeg2000", 64) == "filter"
        assert choose_backend("db2", "periodization", 9) == "filter"
        assert choose_backend("haar", "jpeg2000", 64) == "dense"  # half-sample symmetric: not the filter's
        assert choose_backend("db2", "jpeg2000", 64) == "dense"
        assert choose_backend("bior4.4", "jpeg2000", 1) == "dense"
    with use_backend("lifting"):
        assert choose_backend("bior4.4", "jpeg2000", 64) == "lifting"


def test_compiled_graphs_stay_tensor_free_for_wavelets_without_lifting() -> None:
    """Under torch.compile, db2 / periodization and bior2.4 / jpeg2000 use the filter (no constant
    matrices, so a new size does not specialise them); Haar / 5/3 / 9/7 keep the lifting steps."""
    torch._dynamo.reset()
    seen = []

    def probe(x: torch.Tensor) -> torch.Tensor:
        for wavelet, mode in (("db2", "periodization"), ("bior2.4", "jpeg2000"), ("bior4.4", "jpeg2000")):
            seen.append(choose_backend(wavelet, mode, x.shape[-1]))
        return x + 1

    torch.compile(probe, backend="eager", fullgraph=True)(torch.zeros(3, 16))
    assert seen == ["filter", "filter", "lifting"]
