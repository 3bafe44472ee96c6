"""PSNR / MS-SSIM against independent implementations; BD-rate / BD-PSNR on analytic and published cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from integrations.compression import bdrate, metrics, results
from integrations.compression.bdrate import bd_psnr, bd_psnr_from_points, bd_rate, bd_rate_from_points

RNG = np.random.default_rng(0)


def _pair(shape=(180, 200, 3), sigma=8.0):
    a = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    noise = RNG.normal(0, sigma, size=shape)
    b = np.clip(a + noise, 0, 255).round().astype(np.uint8)
    return a, b


# ---------------------------------------------------------------- metrics


def test_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    for sigma in (1.0, 8.0, 40.0):
        a, b = _pair(sigma=sigma)
        assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)


def test_psnr_identical_is_inf_and_formula():
    a, _ = _pair()
    assert metrics.psnr(a, a) == math.inf
    b = a.copy()
    b[0, 0, 0] ^= 1 if b[0, 0, 0] < 255 else 3  # one sample off by 1 (or 3)
    mse = float(np.mean((a.astype(float) - b) ** 2))
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse))


def test_ms_ssim_matches_pytorch_msssim_on_unit_range():
    from pytorch_msssim import ms_ssim

    a, b = _pair(sigma=12.0)
    x, y = (torch.from_numpy(v).permute(2, 0, 1)[None].float() / 255 for v in (a, b))
    assert metrics.ms_ssim(a, b) == pytest.approx(float(ms_ssim(x, y, data_range=1.0)), abs=1e-5)


def test_ms_ssim_properties():
    a, _ = _pair()
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    scores = [metrics.ms_ssim(a, _pair_with(a, s)) for s in (2.0, 10.0, 40.0)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0
    assert scores[1] == pytest.approx(metrics.ms_ssim(_pair_with(a, 10.0), a), abs=1e-6)


def _pair_with(a, sigma):
    rng = np.random.default_rng(int(sigma * 10))
    return np.clip(a + rng.normal(0, sigma, size=a.shape), 0, 255).round().astype(np.uint8)


def test_metric_input_checks():
    a, b = _pair()
    with pytest.raises(ValueError, match="161"):
        metrics.ms_ssim(a[:100], b[:100])
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(a, b[:-1])
    with pytest.raises(TypeError, match="uint8"):
        metrics.psnr(a.astype(np.float32), b)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        metrics.psnr(a[..., 0], b[..., 0])


def test_bpp():
    assert metrics.bpp(24 * 1024, 512, 768) == pytest.approx(0.5)
    assert metrics.bpp(0, 1, 1) == 0.0
    with pytest.raises(ValueError):
        metrics.bpp(10, 0, 5)


# ---------------------------------------------------------------- BD-rate

RATES = np.array([0.12, 0.25, 0.48, 0.9, 1.6])
PSNRS = 27.0 + 4.1 * np.log2(RATES / 0.12) - 0.15 * np.log2(RATES / 0.12) ** 2  # concave, like real curves


@pytest.mark.parametrize("method", ["pchip", "cubic"])
@pytest.mark.parametrize("factor", [0.8, 1.0, 1.25, 2.0])
def test_constant_rate_factor_gives_exact_bd_rate(method, factor):
    got = bd_rate_from_points(RATES, PSNRS, RATES * factor, PSNRS, method=method)
    assert got == pytest.approx((factor - 1) * 100, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
@pytest.mark.parametrize("shift", [-1.3, 0.0, 0.5])
def test_constant_psnr_shift_gives_exact_bd_psnr(method, shift):
    assert bd_psnr_from_points(RATES, PSNRS, RATES, PSNRS + shift, method=method) == pytest.approx(shift, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_antisymmetry(method):
    r2, q2 = RATES * np.array([0.9, 0.85, 0.8, 0.82, 0.9]), PSNRS + np.array([0.1, -0.2, 0.05, 0.3, 0.0])
    ab = bd_rate_from_points(RATES, PSNRS, r2, q2, method=method) / 100
    ba = bd_rate_from_points(r2, q2, RATES, PSNRS, method=method) / 100
    assert (1 + ab) * (1 + ba) == pytest.approx(1.0, abs=1e-12)
    assert bd_psnr_from_points(RATES, PSNRS, r2, q2, method=method) == pytest.approx(
        -bd_psnr_from_points(r2, q2, RATES, PSNRS, method=method), abs=1e-12)


def test_straight_lines_with_partial_overlap_match_the_analytic_mean():
    """log R linear in PSNR on both curves, over different PSNR ranges: PCHIP and the cubic fit
    reproduce lines exactly, so the BD-rate is the closed-form mean gap over the shared range."""
    q_anchor, q_test = np.linspace(28, 38, 5), np.linspace(30, 41, 6)
    a0, a1, t0, t1 = -6.0, 0.18, -6.5, 0.19
    lo, hi = 30.0, 38.0
    mean_gap = (t0 - a0) + (t1 - a1) * (lo + hi) / 2
    for method in ("pchip", "cubic"):
        got = bd_rate_from_points(np.exp(a0 + a1 * q_anchor), q_anchor, np.exp(t0 + t1 * q_test), q_test, method)
        assert got == pytest.approx(math.expm1(mean_gap) * 100, abs=1e-9)


def test_cubic_method_is_exact_for_cubic_curves():
    q = np.array([27.0, 30.0, 33.0, 36.0, 39.0])
    cubic = lambda x: -9 + 0.5 * x - 0.004 * x**2 + 2e-5 * x**3  # noqa: E731
    drift = 0.01  # test curve: cubic + drift * q -> mean gap = drift * mean(q over [27, 39])
    got = bd_rate_from_points(np.exp(cubic(q)), q, np.exp(cubic(q) + drift * q), q, method="cubic")
    assert got == pytest.approx(math.expm1(drift * 33.0) * 100, abs=1e-9)


def test_points_are_sorted_before_interpolation():
    order = np.array([3, 0, 4, 1, 2])
    assert bd_rate_from_points(RATES[order], PSNRS[order], RATES * 0.9, PSNRS) == pytest.approx(-10.0, abs=1e-9)


def test_bd_errors_are_named():
    with pytest.raises(ValueError, match="at least 4"):
        bd_rate_from_points(RATES[:3], PSNRS[:3], RATES, PSNRS, method="cubic")
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate_from_points(RATES[:1], PSNRS[:1], RATES, PSNRS)
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate_from_points(RATES, PSNRS, RATES, PSNRS + 50)
    with pytest.raises(ValueError, match="distinct"):
        bd_rate_from_points([0.1, 0.2, 0.3], [30, 30, 31], RATES, PSNRS)
    with pytest.raises(ValueError, match="positive"):
        bd_rate_from_points([0.0, 0.2, 0.3], [29, 30, 31], RATES, PSNRS)
    with pytest.raises(ValueError, match="finite"):
        bd_rate_from_points([0.1, 0.2, 0.3], [29, math.nan, 31], RATES, PSNRS)
    with pytest.raises(ValueError, match="method"):
        bd_rate_from_points(RATES, PSNRS, RATES, PSNRS, method="akima")


def test_dict_interface_and_ms_ssim_db():
    anchor = {"name": "a", "results": {"bpp": RATES.tolist(), "psnr-rgb": PSNRS.tolist(),
                                       "ms-ssim-rgb": (1 - 10 ** (-PSNRS / 20)).tolist()}}
    test = {"name": "t", "results": {"bpp": (RATES * 0.75).tolist(), "psnr-rgb": PSNRS.tolist(),
                                     "ms-ssim-rgb": anchor["results"]["ms-ssim-rgb"]}}
    assert bd_rate(anchor, test) == pytest.approx(-25.0, abs=1e-9)
    assert bd_rate(anchor, test, metric="ms-ssim-db-rgb") == pytest.approx(-25.0, abs=1e-9)
    assert bd_psnr(anchor, anchor) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="no 'lpips'"):
        bd_rate(anchor, test, metric="lpips")


# ---------------------------------------------------------------- published anchors

ANCHORS = results.load_anchor_curves("kodak")
needs_anchors = pytest.mark.skipif(not ANCHORS, reason="the shared Kodak anchor curves are not present")


@needs_anchors
def test_chwdta_against_vtm_reproduces_the_published_figure():
    """The ChWDTA paper reports -17.82 % BD-rate against VTM on Kodak (shared/anchors/README.md)."""
    got = bd_rate(ANCHORS["vtm"], ANCHORS["paper-chwdta2026_mse"])
    assert got == pytest.approx(-17.82, abs=0.05)


@needs_anchors
def test_compressai_hyperprior_against_bpg_and_vtm_is_plausible():
    hyperprior = ANCHORS["compressai-bmshj2018-hyperprior_mse_cuda"]
    vs_vtm, vs_bpg = bd_rate(ANCHORS["vtm"], hyperprior), bd_rate(ANCHORS["bpg_444_x265_ycbcr"], hyperprior)
    assert 20.0 < vs_vtm < 40.0  # measured 30.49 %
    assert -5.0 < vs_bpg < 10.0  # measured 3.93 %
    assert vs_vtm > vs_bpg  # VTM is the stronger anchor
    assert bd_psnr(ANCHORS["vtm"], hyperprior) < 0
    # the unsorted jpeg2000.json is usable too: JPEG 2000 needs about twice VTM's rate
    assert 70.0 < bd_rate(ANCHORS["vtm"], ANCHORS["jpeg2000"]) < 130.0


def test_methods_table():
    assert bdrate.METHODS == {"pchip": 2, "cubic": 4}
