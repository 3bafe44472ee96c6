"""The 1D analysis/synthesis matrices of wavelayers.operators against PyWavelets applied to unit
impulses (an independent construction of the same linear maps), plus their algebraic properties."""
from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from wavelayers import MODES, band_length
from wavelayers.operators import (
    EXPANSIVE_MODES,
    NON_EXPANSIVE_MODES,
    analysis_matrix,
    operator_pair,
    synthesis_matrix,
)
from wavelayers.wavelets import ALIASES, filter_bank

WAVELETS = ("haar", "bior2.2", "bior4.4", "db2", "sym4", "coif1", "bior1.3", "rbio3.3", "db4")
SYMMETRIC = ("haar", "bior2.2", "bior4.4", "bior1.3", "rbio3.3")
pytestmark = pytest.mark.usefixtures("single_thread")

PYWT_MODES = ("periodization",) + EXPANSIVE_MODES
LENGTHS = tuple(range(1, 26)) + (31, 40)


def _modes_for(wavelet: str) -> tuple[str, ...]:
    return MODES if wavelet in SYMMETRIC else PYWT_MODES


def _pywt_refuses(n: int, mode: str) -> bool:
    """PyWavelets rejects length-1 signals in (anti)reflect mode; wavelayers extends them as constants."""
    return n == 1 and mode in ("reflect", "antireflect")


def _pywt_analysis(wavelet: str, mode: str, n: int) -> np.ndarray:
    """(2m, n) matrix whose column j is pywt.dwt of the j-th unit impulse: [cA; cD]."""
    cA, cD = pywt.dwt(np.eye(n), wavelet, mode, axis=0)
    return np.concatenate([cA, cD], axis=0)


def _pywt_synthesis(wavelet: str, mode: str, n: int, m: int) -> np.ndarray:
    """(n, 2m) matrix: pywt.idwt of unit coefficient vectors, cropped to the signal length n."""
    eye = np.eye(2 * m)
    rec = pywt.idwt(eye[:m], eye[m:], wavelet, mode, axis=0)
    return rec[:n]


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_analysis_and_synthesis_equal_pywt_impulse_responses(wavelet: str) -> None:
    for mode in PYWT_MODES:
        for n in LENGTHS:
            if _pywt_refuses(n, mode):
                continue
            A = analysis_matrix(wavelet, mode, n)
            expected = _pywt_analysis(wavelet, mode, n)
            assert A.shape == expected.shape, (wavelet, mode, n)
            np.testing.assert_allclose(A, expected, rtol=0, atol=1e-12, err_msg=f"{wavelet}/{mode}/n={n}")
            m = A.shape[0] // 2
            S = synthesis_matrix(wavelet, mode, n)
            np.testing.assert_allclose(
                S, _pywt_synthesis(wavelet, mode, n, m), rtol=0, atol=1e-12, err_msg=f"{wavelet}/{mode}/n={n}"
            )


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_synthesis_inverts_analysis_for_every_mode_and_length(wavelet: str) -> None:
    for mode in _modes_for(wavelet):
        for n in LENGTHS:
            A = analysis_matrix(wavelet, mode, n)
            S = synthesis_matrix(wavelet, mode, n)
            m = band_length(n, wavelet, mode)
            assert A.shape == (2 * m, n) and S.shape == (n, 2 * m)
            np.testing.assert_allclose(S @ A, np.eye(n), rtol=0, atol=1e-10, err_msg=f"{wavelet}/{mode}/n={n}")


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_band_length_is_ceil_half_or_pywt_coefficient_length(wavelet: str) -> None:
    for n in LENGTHS:
        for mode in NON_EXPANSIVE_MODES:
            if mode in _modes_for(wavelet):
                assert band_length(n, wavelet, mode) == -(-n // 2)
        for mode in EXPANSIVE_MODES:
            assert band_length(n, wavelet, mode) == pywt.dwt_coeff_len(n, pywt.Wavelet(wavelet), mode)


@pytest.mark.parametrize("wavelet", ("bior2.2", "bior4.4", "bior2.4", "bior6.8"))
def test_jpeg2000_redundant_high_coefficient_is_the_mirror_image(wavelet: str) -> None:
    """Odd-length filters use whole-sample extension about the last sample: for odd n the extra high
    coefficient (centred on sample n) equals the one centred on sample n - 2, and for n = 1 it is the
    high-pass of a constant."""
    for n in range(1, 26, 2):
        A = analysis_matrix(wavelet, "jpeg2000", n)
        m = A.shape[0] // 2
        hi = A[m:]
        if n == 1:
            np.testing.assert_allclose(hi, 0.0, atol=1e-10)  # pywt's 9/7 taps sum to ~1e-12, not 0
        else:
            np.testing.assert_allclose(hi[m - 1], hi[m - 2], atol=1e-12, err_msg=f"{wavelet}/n={n}")


def test_aliases_resolve_to_the_same_operators() -> None:
    for alias, name in ALIASES.items():
        for n in (5, 8):
            np.testing.assert_array_equal(analysis_matrix(alias, "jpeg2000", n), analysis_matrix(name, "jpeg2000", n))
    assert filter_bank("CDF97").name == "bior4.4"


def test_cached_matrices_are_read_only() -> None:
    A = analysis_matrix("bior4.4", "jpeg2000", 9)
    with pytest.raises(ValueError, match="read-only"):
        A[0, 0] = 1.0


@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16, torch.float32, torch.float64))
def test_operator_pair_is_the_float64_matrix_cast_to_the_requested_dtype(dtype: torch.dtype) -> None:
    A, S = operator_pair("bior4.4", "symmetric", 11, torch.device("cpu"), dtype)
    assert A.dtype == dtype and S.dtype == dtype and not A.requires_grad
    expected = torch.from_numpy(analysis_matrix("bior4.4", "symmetric", 11).copy()).to(dtype)
    assert torch.equal(A, expected)


def _inverse_oracle(wavelet: str, mode: str, n: int) -> np.ndarray:
    """S by a dense float64 inverse (how wavelayers built it before O(nL) synthesis from the taps)."""
    A = analysis_matrix(wavelet, mode, n)
    if mode == "periodization" and n % 2 == 1:  # PyWavelets' rule: invert the n + 1 transform
        return np.linalg.inv(analysis_matrix(wavelet, mode, n + 1))[:n]
    keep = np.ones(A.shape[0], dtype=bool)
    if n % 2 == 1:
        keep[-1] = False  # jpeg2000: the redundant mirrored high coefficient is ignored
    S = np.zeros(A.shape[::-1])
    S[:, keep] = np.linalg.inv(A[keep])
    return S


@pytest.mark.parametrize(
    "wavelet", ("haar", "bior1.3", "bior2.2", "bior2.4", "bior3.1", "bior3.9", "bior4.4", "bior6.8", "rbio1.3", "rbio3.3", "db2", "sym4")
)
def test_synthesis_from_taps_equals_the_inverse(wavelet: str) -> None:
    """Synthesis built from the taps and the boundary rule (no inverse) is A's inverse exactly, for
    whole- and half-sample symmetric filters and for orthogonal ones in periodization."""
    modes = NON_EXPANSIVE_MODES if filter_bank(wavelet).symmetric_extension else ("periodization",)
    for mode in modes:
        for n in tuple(range(1, 42)) + (64, 97):
            np.testing.assert_allclose(
                synthesis_matrix(wavelet, mode, n), _inverse_oracle(wavelet, mode, n), rtol=0, atol=1e-10,
                err_msg=f"{wavelet}/{mode}/n={n}",
            )


def test_long_axes_build_without_a_dense_inverse() -> None:
    """n = 4097 (odd, so the redundant coefficient and the mirrored end are exercised) builds and
    reconstructs a random signal exactly; the old inverse took seconds at this size."""
    for mode in NON_EXPANSIVE_MODES:
        A, S = analysis_matrix("bior4.4", mode, 4097), synthesis_matrix("bior4.4", mode, 4097)
        x = np.random.default_rng(0).standard_normal(4097)
        np.testing.assert_allclose(S @ (A @ x), x, rtol=0, atol=1e-10)


def test_the_reconstruction_check_rejects_a_wrong_synthesis() -> None:
    from wavelayers.operators import _check_inverse

    A, S = analysis_matrix("bior2.2", "jpeg2000", 9), synthesis_matrix("bior2.2", "jpeg2000", 9).copy()
    _check_inverse(A, S, "bior2.2", "jpeg2000")
    S[4, 2] += 1e-6
    with pytest.raises(ValueError, match="not perfectly reconstructing for length 9"):
        _check_inverse(A, S, "bior2.2", "jpeg2000")
