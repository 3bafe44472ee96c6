"""dwt1d / idwt1d / dwt2d / idwt2d against independent oracles: PyWavelets (coefficients and
reconstructions), the NumPy JPEG 2000 lifting reference, perfect reconstruction, finite differences
(gradcheck), the adjoint of PyWavelets' analysis matrix; plus dtypes, autocast, channels_last and
torch.compile."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import pywt
import torch
from torch.autograd import gradcheck

import lifting_reference as lifting
from wavelayers import DWT1D, DWT2D, IDWT1D, IDWT2D, MODES, DetailBands, band_length, dwt1d, dwt2d, idwt1d, idwt2d
from wavelayers.operators import EXPANSIVE_MODES, NON_EXPANSIVE_MODES

pytestmark = pytest.mark.usefixtures("single_thread")

PYWT_MODES = ("periodization",) + EXPANSIVE_MODES
WAVELETS_1D = ("haar", "bior2.2", "bior4.4", "db2", "sym4", "coif1", "db4")
WAVELETS_2D = ("haar", "bior2.2", "bior4.4", "db2", "sym4", "coif1")
SYMMETRIC = ("haar", "bior2.2", "bior4.4")
LENGTHS_1D = (1, 2, 3, 5, 8, 13, 17)
SIZES_2D = ((1, 1), (2, 3), (5, 7), (16, 16), (33, 47))
F64_TOL = 1e-10
F32_TOL = 1e-5


def _modes_for(wavelet: str) -> tuple[str, ...]:
    return MODES if wavelet in SYMMETRIC else PYWT_MODES


def _pywt_refuses(n: int, mode: str) -> bool:
    """PyWavelets rejects length-1 signals in (anti)reflect mode (wavelayers extends them as constants)."""
    return n == 1 and mode in ("reflect", "antireflect")


def _t(a: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)


def _assert_close(got: torch.Tensor, expected: np.ndarray, tol: float, what: str) -> None:
    """|got - expected| <= tol * max(1, max|expected|): absolute for unit-scale data, relative beyond."""
    got64 = got.detach().to(torch.float64).numpy()
    assert got64.shape == expected.shape, f"{what}: shape {got64.shape} != {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    err = float(np.abs(got64 - expected).max(initial=0.0))
    assert err <= tol * scale, f"{what}: max error {err:.3e} > {tol:.0e} * {scale:.2f}"


def _shape_with(n: int, dim: int) -> tuple[int, ...]:
    shape = [3, 4, 2]
    shape[dim] = n
    return tuple(shape)


# ---------------------------------------------------------------------------------------------
# 1. coefficients and reconstructions equal PyWavelets'


@pytest.mark.parametrize("mode", PYWT_MODES)
@pytest.mark.parametrize("wavelet", WAVELETS_1D)
def test_dwt1d_equals_pywt_dwt_along_any_axis(wavelet: str, mode: str, rng: np.random.Generator) -> None:
    for n in LENGTHS_1D:
        if _pywt_refuses(n, mode):
            continue
        for dim in (0, 1, -1):
            x = rng.standard_normal(_shape_with(n, dim))
            cA, cD = pywt.dwt(x, wavelet, mode, axis=dim)
            for dtype, tol in ((torch.float64, F64_TOL), (torch.float32, F32_TOL)):
                xt = _t(x, dtype)
                cA_ref, cD_ref = pywt.dwt(xt.double().numpy(), wavelet, mode, axis=dim)
                lo, hi = dwt1d(xt, wavelet, mode=mode, dim=dim)
                assert lo.dtype == dtype
                _assert_close(lo, cA_ref, tol, f"low {wavelet}/{mode}/n={n}/dim={dim}/{dtype}")
                _assert_close(hi, cD_ref, tol, f"high {wavelet}/{mode}/n={n}/dim={dim}/{dtype}")
            # inverse on the same coefficients; pywt returns 2m (or 2m - L + 2) samples: crop to n
            rec_ref = np.take(pywt.idwt(cA, cD, wavelet, mode, axis=dim), np.arange(n), axis=dim)
            rec = idwt1d(_t(cA), _t(cD), wavelet, mode=mode, dim=dim, size=n)
            _assert_close(rec, rec_ref, F64_TOL, f"idwt {wavelet}/{mode}/n={n}/dim={dim}")


@pytest.mark.parametrize("mode", PYWT_MODES)
@pytest.mark.parametrize("wavelet", WAVELETS_1D)
def test_idwt1d_equals_pywt_idwt_on_arbitrary_coefficients(wavelet: str, mode: str, rng: np.random.Generator) -> None:
    """Synthesis is the same linear map as pywt.idwt, also on coefficients no signal produced."""
    for n in LENGTHS_1D:
        m = band_length(n, wavelet, mode)
        cA, cD = rng.standard_normal((2, 3, m))
        rec_ref = pywt.idwt(cA, cD, wavelet, mode, axis=-1)
        _assert_close(idwt1d(_t(cA), _t(cD), wavelet, mode=mode, size=n), rec_ref[:, :n], F64_TOL, f"{wavelet}/{mode}/{n}")
        full = idwt1d(_t(cA), _t(cD), wavelet, mode=mode, size=rec_ref.shape[-1])  # pywt's own output length
        _assert_close(full, rec_ref, F64_TOL, f"pywt's length {wavelet}/{mode}/{n}")


def _pywt_wavedec2(x: np.ndarray, wavelet: str, mode: str, levels: int) -> list | None:
    """pywt.wavedec2, or None where PyWavelets refuses (a length-1 axis in (anti)reflect mode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pywt: "level value too high" for tiny inputs
        try:
            return pywt.wavedec2(x, wavelet, mode, level=levels)
        except ValueError as error:
            if "reflect" not in str(error):
                raise
            return None


def _pywt_highs(coeffs: list, level: int) -> np.ndarray:
    """pywt.wavedec2 details of ``level`` (1 = finest) stacked as (..., 3, h, w)."""
    return np.stack(coeffs[len(coeffs) - level], axis=-3)


@pytest.mark.parametrize("mode", PYWT_MODES)
@pytest.mark.parametrize("wavelet", WAVELETS_2D)
def test_dwt2d_and_idwt2d_equal_pywt_wavedec2_and_waverec2(wavelet: str, mode: str, rng: np.random.Generator) -> None:
    for H, W in SIZES_2D:
        x = rng.standard_normal((2, 3, H, W))
        for levels in (1, 2, 3):
            coeffs = _pywt_wavedec2(x, wavelet, mode, levels)
            if coeffs is None:
                continue
            what = f"{wavelet}/{mode}/{H}x{W}/levels={levels}"
            ll, highs = dwt2d(_t(x), wavelet, levels=levels, mode=mode)
            assert len(highs) == levels
            _assert_close(ll, coeffs[0], F64_TOL, f"ll {what}")
            for j in range(levels):  # highs[0] is the finest level
                _assert_close(highs[j], _pywt_highs(coeffs, j + 1), F64_TOL, f"level {j + 1} {what}")
            # inverse on pywt's own coefficients vs waverec2, cropped to the input size
            rec_ref = pywt.waverec2(coeffs, wavelet, mode)[..., :H, :W]
            rec = idwt2d(
                _t(coeffs[0]), [_t(_pywt_highs(coeffs, j + 1)) for j in range(levels)], wavelet, mode=mode, size=(H, W)
            )
            _assert_close(rec, rec_ref, F64_TOL, f"idwt2d {what}")
    # float32, 3 levels of an odd-sized image
    x32 = torch.from_numpy(rng.standard_normal((2, 3, 33, 47))).float()
    coeffs = pywt.wavedec2(x32.double().numpy(), wavelet, mode, level=3)
    ll, highs = dwt2d(x32, wavelet, levels=3, mode=mode)
    _assert_close(ll, coeffs[0], F32_TOL, f"float32 ll {wavelet}/{mode}")
    for j in range(3):
        _assert_close(highs[j], _pywt_highs(coeffs, j + 1), F32_TOL, f"float32 level {j + 1} {wavelet}/{mode}")


# ---------------------------------------------------------------------------------------------
# 2. jpeg2000 mode against the independent lifting reference


def _lifting_bands(x: np.ndarray, wavelet: str) -> tuple[np.ndarray, np.ndarray]:
    """Reference (low, high) along the last axis in PyWavelets' normalisation; high has floor(n/2) samples."""
    if wavelet == "bior2.2":
        ref, lo_gain, hi_gain = lifting.dwt53, math.sqrt(2), -1 / math.sqrt(2)
    else:
        ref, lo_gain, hi_gain = lifting.dwt97, math.sqrt(2), -math.sqrt(2)
    n = x.shape[-1]
    lo = np.empty((*x.shape[:-1], (n + 1) // 2))
    hi = np.empty((*x.shape[:-1], n // 2))
    for index in np.ndindex(*x.shape[:-1]):
        lo[index], hi[index] = ref(x[index])
    return lo * lo_gain, hi * hi_gain


def _lifting_bands_along(x: np.ndarray, wavelet: str, axis: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _lifting_bands(np.moveaxis(x, axis, -1), wavelet)
    return np.moveaxis(lo, -1, axis), np.moveaxis(hi, -1, axis)


@pytest.mark.parametrize("wavelet", ("bior2.2", "bior4.4"))
def test_jpeg2000_dwt1d_equals_lifting_reference(wavelet: str, rng: np.random.Generator) -> None:
    for n in list(range(1, 41)) + [63]:
        x = rng.standard_normal((2, n, 3))
        lo_ref, hi_ref = _lifting_bands_along(x, wavelet, axis=1)
        lo, hi = dwt1d(_t(x), wavelet, mode="jpeg2000", dim=1)
        assert lo.shape[1] == hi.shape[1] == (n + 1) // 2
        # 1e-10 not 1e-12: the standard's lifting constants have 15 digits, pywt's 9/7 taps slightly fewer
        _assert_close(lo, lo_ref, F64_TOL, f"low {wavelet}/n={n}")
        _assert_close(hi[:, : n // 2], hi_ref, F64_TOL, f"high {wavelet}/n={n}")
        x32 = _t(x, torch.float32)
        lo32, hi32 = dwt1d(x32, wavelet, mode="jpeg2000", dim=1)
        lo_ref32, hi_ref32 = _lifting_bands_along(x32.double().numpy(), wavelet, axis=1)
        _assert_close(lo32, lo_ref32, F32_TOL, f"float32 low {wavelet}/n={n}")
        _assert_close(hi32[:, : n // 2], hi_ref32, F32_TOL, f"float32 high {wavelet}/n={n}")


@pytest.mark.parametrize("wavelet", ("bior2.2", "bior4.4"))
def test_jpeg2000_dwt2d_equals_separable_lifting_reference(wavelet: str, rng: np.random.Generator) -> None:
    """Reference: the 1D lifting along H, then along W; level 2 transforms the reference LL again."""
    for H, W in ((1, 1), (1, 6), (7, 1), (8, 8), (9, 14), (33, 47), (63, 20)):
        x = rng.standard_normal((2, H, W))
        ll, highs = dwt2d(_t(x), wavelet, levels=2, mode="jpeg2000")
        approx = x
        for level in range(2):
            h, w = approx.shape[-2:]
            fh, fw = h // 2, w // 2  # true high-band lengths; the library adds a redundant one for odd sizes
            low_h, high_h = _lifting_bands_along(approx, wavelet, axis=-2)
            ref_ll, ref_cv = _lifting_bands_along(low_h, wavelet, axis=-1)
            ref_ch, ref_cd = _lifting_bands_along(high_h, wavelet, axis=-1)
            what = f"{wavelet}/{H}x{W}/level {level + 1}"
            bands = highs[level]
            _assert_close(bands[:, 0, :fh, :], ref_ch, F64_TOL, f"cH {what}")
            _assert_close(bands[:, 1, :, :fw], ref_cv, F64_TOL, f"cV {what}")
            _assert_close(bands[:, 2, :fh, :fw], ref_cd, F64_TOL, f"cD {what}")
            approx = ref_ll
        _assert_close(ll, approx, F64_TOL, f"ll {wavelet}/{H}x{W}")


# ---------------------------------------------------------------------------------------------
# 3. perfect reconstruction and the shape contract


def _random_sizes(rng: np.random.Generator, count: int) -> list[tuple[int, int]]:
    """Fixed corner cases plus ``count`` seeded random (H, W) in [1, 48]."""
    drawn = [tuple(int(v) for v in rng.integers(1, 49, size=2)) for _ in range(count)]
    return [(1, 1), (1, 2), (2, 1), (33, 47), (16, 16)] + drawn


@pytest.mark.parametrize("wavelet", WAVELETS_2D)
def test_perfect_reconstruction_float32_every_mode_random_sizes(wavelet: str, rng: np.random.Generator) -> None:
    L = pywt.Wavelet(wavelet).dec_len
    for mode in _modes_for(wavelet):
        for H, W in _random_sizes(rng, 4):
            x = torch.from_numpy(rng.standard_normal((2, 3, H, W))).float()
            for levels in (1, 2, 3):
                what = f"{wavelet}/{mode}/{H}x{W}/levels={levels}"
                ll, highs = dwt2d(x, wavelet, levels=levels, mode=mode)
                h, w = H, W
                for bands in highs:  # band sizes: ceil(n/2) (non-expansive) or pywt's (n + L - 1) // 2
                    if mode in NON_EXPANSIVE_MODES:
                        h, w = (h + 1) // 2, (w + 1) // 2
                    else:
                        h, w = (h + L - 1) // 2, (w + L - 1) // 2
                    assert bands.shape == (2, 3, 3, h, w), what
                assert ll.shape == (2, 3, h, w), what
                rec = idwt2d(ll, highs, wavelet, mode=mode, size=(H, W))
                assert rec.shape == x.shape and rec.dtype == torch.float32, what
                err = (rec - x).abs().max().item()
                assert err < 1e-5, f"{what}: reconstruction error {err:.2e}"
                # without size: the size the coefficients carry, so odd jpeg2000 sizes are exact too
                for rec in (idwt2d(ll, highs), idwt2d(ll, highs, wavelet, mode=mode)):
                    assert rec.shape == x.shape, what
                    err = (rec - x).abs().max().item()
                    assert err < 1e-5, f"{what} (no size): reconstruction error {err:.2e}"


@pytest.mark.parametrize("wavelet", WAVELETS_1D)
def test_perfect_reconstruction_1d_every_mode_and_length(wavelet: str, rng: np.random.Generator) -> None:
    for mode in _modes_for(wavelet):
        for n in range(1, 42):
            x = torch.from_numpy(rng.standard_normal((2, n))).float()
            lo, hi = dwt1d(x, wavelet, mode=mode)
            if mode in NON_EXPANSIVE_MODES:
                assert lo.shape == hi.shape == (2, (n + 1) // 2)
            rec = idwt1d(lo, hi, wavelet, mode=mode, size=n)
            assert rec.shape == x.shape
            err = (rec - x).abs().max().item()
            assert err < 1e-5, f"{wavelet}/{mode}/n={n}: reconstruction error {err:.2e}"


def test_modules_match_functional_and_hold_no_state(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.standard_normal((2, 3, 9, 10))).float()
    dwt, idwt = DWT2D("bior4.4", levels=2, mode="jpeg2000"), IDWT2D("bior4.4", mode="jpeg2000")
    ll, highs = dwt(x)
    ll_f, highs_f = dwt2d(x, "bior4.4", levels=2, mode="jpeg2000")
    assert torch.equal(ll, ll_f) and all(torch.equal(a, b) for a, b in zip(highs, highs_f))
    assert torch.equal(idwt(ll, highs, size=(9, 10)), idwt2d(ll, highs, "bior4.4", mode="jpeg2000", size=(9, 10)))
    lo, hi = DWT1D("db2", mode="symmetric", dim=2)(x)
    assert torch.equal(lo, dwt1d(x, "db2", mode="symmetric", dim=2)[0])
    assert torch.allclose(IDWT1D("db2", mode="symmetric", dim=2)(lo, hi, size=9), x, atol=1e-5)
    for module in (dwt, idwt):
        assert len(module.state_dict()) == 0 and len(list(module.parameters())) == 0


# ---------------------------------------------------------------------------------------------
# 4. gradients


GRAD_CASES = [(w, m) for w in ("haar", "bior2.2", "bior4.4") for m in ("jpeg2000", "periodization", "symmetric")]


@pytest.mark.parametrize(("wavelet", "mode"), GRAD_CASES)
def test_gradcheck_dwt1d_and_idwt1d(wavelet: str, mode: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert gradcheck(lambda t: dwt1d(t, wavelet, mode=mode, dim=1), (x,))
    m = band_length(7, wavelet, mode)
    lo = torch.randn(2, m, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    hi = torch.randn(2, m, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert gradcheck(lambda a, b: idwt1d(a, b, wavelet, mode=mode, dim=1, size=7), (lo, hi))


@pytest.mark.parametrize(("wavelet", "mode"), GRAD_CASES)
def test_gradcheck_dwt2d_and_idwt2d(wavelet: str, mode: str) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, generator=gen, requires_grad=True)

    def forward(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ll, highs = dwt2d(t, wavelet, levels=2, mode=mode)
        return (ll, *highs)

    assert gradcheck(forward, (x,))
    ll, highs = dwt2d(x.detach(), wavelet, levels=2, mode=mode)
    coeffs = [c.clone().normal_(generator=gen).requires_grad_() for c in (ll, *highs)]
    assert gradcheck(lambda a, *h: idwt2d(a, list(h), wavelet, mode=mode, size=(5, 6)), tuple(coeffs))
    # the round trip is the identity: its Jacobian too
    assert gradcheck(lambda t: idwt2d(*dwt2d(t, wavelet, levels=2, mode=mode), wavelet, mode=mode, size=(5, 6)), (x,))


def _pywt_wavedec2_matrix(wavelet: str, mode: str, H: int, W: int, levels: int) -> np.ndarray:
    """Matrix of pywt.wavedec2 (built from impulses), rows in wavelayers' order: ll, then highs finest first."""
    cols = []
    for k in range(H * W):
        impulse = np.zeros(H * W)
        impulse[k] = 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            c = pywt.wavedec2(impulse.reshape(H, W), wavelet, mode, level=levels)
        cols.append(np.concatenate([c[0].ravel()] + [_pywt_highs(c, j + 1).ravel() for j in range(levels)]))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("mode", ("symmetric", "reflect", "zero", "smooth", "periodization", "antisymmetric"))
@pytest.mark.parametrize("wavelet", ("bior2.2", "bior4.4", "db2", "sym4"))
def test_gradient_is_the_adjoint_of_pywt_analysis(wavelet: str, mode: str, rng: np.random.Generator) -> None:
    """autograd's vector-Jacobian product of dwt2d equals A^T y with A built from PyWavelets, and
    <dwt(x), y> == <x, dwt^T(y)> (the identity a wrong backward, as in pytorch_wavelets, breaks)."""
    H, W, levels = 6, 7, 2
    A = _pywt_wavedec2_matrix(wavelet, mode, H, W, levels)
    x = torch.from_numpy(rng.standard_normal((H, W))).requires_grad_()
    ll, highs = dwt2d(x, wavelet, levels=levels, mode=mode)
    outputs = [ll, *highs]
    cotangents = [torch.from_numpy(rng.standard_normal(tuple(o.shape))) for o in outputs]
    inner = sum((o * c).sum() for o, c in zip(outputs, cotangents))
    (grad,) = torch.autograd.grad(inner, x)
    y = np.concatenate([c.numpy().ravel() for c in cotangents])
    np.testing.assert_allclose(grad.numpy().ravel(), A.T @ y, rtol=0, atol=1e-10)
    assert abs(inner.item() - (x.detach() * grad).sum().item()) < 1e-9 * max(1.0, abs(inner.item()))


def _directional_derivative_fd(f, x: torch.Tensor, v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return (f(x + eps * v) - f(x - eps * v)) / (2 * eps)


@pytest.mark.parametrize("wavelet", ("db2", "bior2.2"))
def test_peer_pytorch_wavelets_symmetric_gradient_is_wrong_documentation(wavelet: str) -> None:
    """Documents a peer bug (anchors/peers.md): pytorch_wavelets 1.3.0's DWTForward in 'symmetric' mode
    computes the same coefficients as wavelayers and PyWavelets, but its backward is not the adjoint:
    <grad, v> differs from the finite-difference derivative. wavelayers' gradient matches it."""
    ptw = pytest.importorskip("pytorch_wavelets", reason="peer not installed (bench extra)")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64, generator=gen)
    v = torch.randn(x.shape, dtype=torch.float64, generator=gen)
    peer = ptw.DWTForward(J=1, wave=wavelet, mode="symmetric").double()
    peer_ll, peer_highs = peer(x)
    ll, highs = dwt2d(x, wavelet, levels=1, mode="symmetric")
    # same forward (the peer stores float32 taps, hence 1e-6)
    assert (peer_ll - ll).abs().max() < 1e-6 and (peer_highs[0] - highs[0]).abs().max() < 1e-6
    w_ll = torch.randn(ll.shape, dtype=torch.float64, generator=gen)
    w_hi = torch.randn(highs[0].shape, dtype=torch.float64, generator=gen)

    def ours(t: torch.Tensor) -> torch.Tensor:
        a, h = dwt2d(t, wavelet, levels=1, mode="symmetric")
        return (a * w_ll).sum() + (h[0] * w_hi).sum()

    def theirs(t: torch.Tensor) -> torch.Tensor:
        a, h = peer(t)
        return (a * w_ll).sum() + (h[0] * w_hi).sum()

    fd = _directional_derivative_fd(ours, x, v)
    xg = x.clone().requires_grad_()
    (g_ours,) = torch.autograd.grad(ours(xg), xg)
    (g_peer,) = torch.autograd.grad(theirs(xg), xg)
    assert abs((g_ours * v).sum() - fd) < 1e-6 * max(1.0, abs(fd.item()))
    assert abs((g_peer * v).sum() - _directional_derivative_fd(theirs, x, v)) > 1e-2, (
        "pytorch_wavelets' symmetric-mode gradient now matches finite differences: update anchors/peers.md"
    )
    assert (g_peer - g_ours).abs().max() > 1e-2


# ---------------------------------------------------------------------------------------------
# 6. dtypes, autocast, memory format, torch.compile


@pytest.mark.parametrize(("dtype", "rel_tol"), ((torch.float16, 4e-3), (torch.bfloat16, 3e-2)))
def test_half_precision_forward_and_inverse_track_float32(dtype: torch.dtype, rel_tol: float) -> None:
    """Tolerance: a few units of the format's epsilon (fp16 ~1e-3, bf16 ~8e-3) relative to max|coefficient|."""
    x = torch.randn(2, 3, 33, 47, generator=torch.Generator().manual_seed(4))
    for wavelet, mode in (("bior4.4", "jpeg2000"), ("bior2.2", "periodization"), ("db2", "symmetric")):
        ll, highs = dwt2d(x, wavelet, levels=2, mode=mode)
        ll_h, highs_h = dwt2d(x.to(dtype), wavelet, levels=2, mode=mode)
        assert ll_h.dtype == dtype and all(h.dtype == dtype for h in highs_h)
        for got, ref in zip((ll_h, *highs_h), (ll, *highs)):
            scale = ref.abs().max().item()
            assert (got.float() - ref).abs().max().item() <= rel_tol * scale, (wavelet, mode, dtype)
        rec = idwt2d(ll_h, highs_h, wavelet, mode=mode, size=(33, 47))
        assert rec.dtype == dtype and rec.shape == x.shape
        assert (rec.float() - x).abs().max().item() <= 2 * rel_tol * x.abs().max().item()
        lo, hi = dwt1d(x.to(dtype), wavelet, mode=mode, dim=1)
        lo_ref, _ = dwt1d(x, wavelet, mode=mode, dim=1)
        assert lo.dtype == dtype and (lo.float() - lo_ref).abs().max().item() <= rel_tol * lo_ref.abs().max().item()


def test_autocast_bfloat16_forward_and_backward_give_finite_gradients() -> None:
    x = torch.randn(2, 3, 17, 22, generator=torch.Generator().manual_seed(5), requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ll, highs = dwt2d(x, "bior4.4", levels=2, mode="jpeg2000")
        rec = idwt2d(ll, highs, "bior4.4", mode="jpeg2000", size=(17, 22))
        loss = (rec.float() ** 2).sum()
    loss.backward()
    assert ll.dtype == torch.bfloat16 and rec.shape == x.shape
    assert x.grad is not None and x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
    # the round trip is the identity, so d/dx sum(x^2) = 2x up to bf16 rounding
    assert (x.grad - 2 * x.detach()).abs().max().item() <= 0.05 * (2 * x.detach()).abs().max().item()


@pytest.mark.parametrize(
    ("wavelet", "mode"), (("bior4.4", "jpeg2000"), ("db2", "symmetric"), ("haar", "periodization"))
)
def test_channels_last_input_gives_the_same_coefficients(wavelet: str, mode: str) -> None:
    x = torch.randn(2, 5, 13, 10, generator=torch.Generator().manual_seed(6))
    xc = x.contiguous(memory_format=torch.channels_last)
    ll, highs = dwt2d(x, wavelet, levels=2, mode=mode)
    ll_c, highs_c = dwt2d(xc, wavelet, levels=2, mode=mode)
    torch.testing.assert_close(ll_c, ll, rtol=1e-6, atol=1e-6)
    for a, b in zip(highs_c, highs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    rec = idwt2d(ll_c.contiguous(memory_format=torch.channels_last), highs_c, wavelet, mode=mode, size=(13, 10))
    torch.testing.assert_close(rec, x, rtol=0, atol=1e-5)


def test_torch_compile_fullgraph_matches_eager() -> None:
    def band_scaled_round_trip(x: torch.Tensor) -> torch.Tensor:
        ll, highs = dwt2d(x, "bior4.4", levels=2, mode="jpeg2000")
        return idwt2d(ll * 2.0, [h * 0.5 for h in highs], "bior4.4", mode="jpeg2000", size=(x.shape[-2], x.shape[-1]))

    x = torch.randn(2, 3, 17, 20, generator=torch.Generator().manual_seed(7))
    compiled = torch.compile(band_scaled_round_trip, fullgraph=True)
    torch.testing.assert_close(compiled(x), band_scaled_round_trip(x), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# 6. the inverse never guesses the input size (issue 14, item 1)

ODD_SIZES = ((7, 9), (1, 5), (13, 1), (3, 3), (8, 11))
SIZE_WAVELETS = ("haar", "bior2.2", "bior4.4", "db2")


@pytest.mark.parametrize("wavelet", SIZE_WAVELETS)
def test_every_inverse_entry_point_restores_odd_sizes_without_size(wavelet: str, rng: np.random.Generator) -> None:
    """ll, highs = DWT2D(w)(x); IDWT2D(w)(ll, highs) -- and every other spelling -- is exact at odd
    sizes, for every mode and level count, because the coefficients carry the size."""
    for mode in _modes_for(wavelet):
        for H, W in ODD_SIZES:
            x = _t(rng.standard_normal((2, 3, H, W)))
            for levels in (1, 2, 3):
                what = f"{wavelet}/{mode}/{H}x{W}/levels={levels}"
                coeffs = dwt2d(x, wavelet, levels=levels, mode=mode)
                assert coeffs.size == (H, W) and coeffs.levels == levels and coeffs.wavelet == wavelet, what
                ll, highs = DWT2D(wavelet, levels=levels, mode=mode)(x)
                for rec in (
                    idwt2d(ll, highs),
                    idwt2d(coeffs),
                    idwt2d(*coeffs, wavelet, mode=mode),
                    idwt2d(coeffs, wavelet),
                    IDWT2D(wavelet, mode=mode)(ll, highs),
                    IDWT2D(wavelet, mode=mode)(coeffs),
                    idwt2d(ll, list(highs), wavelet, mode=mode, size=(H, W)),  # plain bands + size
                ):
                    _assert_close(rec, x.numpy(), F64_TOL, what)
                with pytest.raises(ValueError, match=r"cannot know the output size .* pass size=\(H, W\)"):
                    idwt2d(ll, list(highs), wavelet, mode=mode)
                with pytest.raises(ValueError, match=r"cannot know the output size"):
                    IDWT2D(wavelet, mode=mode)(ll, tuple(highs))
            for dim in (2, -1):
                n = x.shape[dim]
                c1 = dwt1d(x, wavelet, mode=mode, dim=dim)
                assert c1.size == n
                lo, hi = DWT1D(wavelet, mode=mode, dim=dim)(x)
                for rec in (idwt1d(c1), idwt1d(c1, wavelet), IDWT1D(wavelet, mode=mode, dim=dim)(c1),
                            IDWT1D(wavelet, mode=mode, dim=dim)(lo, hi, size=n)):
                    _assert_close(rec, x.numpy(), F64_TOL, f"1d {wavelet}/{mode}/{n}/dim={dim}")
                with pytest.raises(ValueError, match=r"cannot know the signal length .* pass size="):
                    idwt1d(lo, hi, wavelet, mode=mode, dim=dim)


def test_the_reported_case_bior44_7x9_is_exact_without_size() -> None:
    x = torch.randn(1, 2, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ll, highs = DWT2D("bior4.4")(x)
    y = IDWT2D("bior4.4")(ll, highs)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-10, rtol=0)


def test_coefficients_made_with_another_transform_are_refused() -> None:
    x = torch.randn(1, 2, 7, 9, dtype=torch.float64)
    coeffs = dwt2d(x, "bior4.4", levels=2)
    with pytest.raises(ValueError, match=r"wavelet='haar' disagrees with the coefficients, .*'bior4.4'"):
        IDWT2D()(coeffs)  # the transforms' default wavelet is haar
    with pytest.raises(ValueError, match=r"mode='periodization' disagrees"):
        IDWT2D("bior4.4", mode="periodization")(*coeffs)
    with pytest.raises(ValueError, match=r"size=\(8, 10\) disagrees .* size=\(7, 9\)"):
        idwt2d(coeffs, size=(8, 10))
    assert idwt2d(coeffs, size=(7, 9)).shape == x.shape  # agreeing is fine
    c1 = dwt1d(x, "bior4.4", dim=2)
    with pytest.raises(ValueError, match=r"dim=-1 disagrees .* dim=-2"):
        idwt1d(c1, dim=-1)
    with pytest.raises(TypeError, match=r"not both"):
        idwt2d(coeffs, coeffs.highs)


def test_edited_bands_keep_the_size_in_place_but_not_in_a_new_list() -> None:
    """In-place edits keep the DetailBands (and its size); a list comprehension is a plain list."""
    x = torch.randn(1, 2, 9, 7, dtype=torch.float64)
    ll, highs = dwt2d(x, "bior4.4", levels=2)
    highs[0] = torch.zeros_like(highs[0])
    assert idwt2d(ll, highs).shape == x.shape
    scaled = [h * 0.5 for h in highs]
    with pytest.raises(ValueError, match=r"pass size=\(H, W\)"):
        idwt2d(ll, scaled, "bior4.4")
    assert idwt2d(ll, scaled, "bior4.4", size=highs.size).shape == x.shape


def test_coefficient_containers_survive_vmap_and_compile() -> None:
    """Registered pytree nodes: vmap and torch.compile return the containers with their facts."""
    x = torch.randn(3, 2, 7, 9, dtype=torch.float64)
    coeffs = torch.vmap(lambda t: dwt2d(t, "bior4.4", levels=2))(x)
    assert coeffs.size == (7, 9) and coeffs.highs[0].shape == (3, 2, 3, 4, 5)
    torch.testing.assert_close(idwt2d(coeffs), x)
    c1 = torch.vmap(lambda t: dwt1d(t, "bior4.4", dim=-1))(x)  # dim counted from the end: still W
    torch.testing.assert_close(idwt1d(c1), x)
    compiled = torch.compile(lambda t: dwt2d(t, "haar", levels=2), fullgraph=True)(x)
    assert isinstance(compiled.highs, DetailBands) and compiled.size == (7, 9)
    torch.testing.assert_close(idwt2d(compiled), x)


def test_coefficient_containers_pickle_and_unpack() -> None:
    import pickle

    x = torch.randn(1, 1, 5, 3, dtype=torch.float64)
    coeffs = dwt2d(x, "bior2.2", levels=2)
    back = pickle.loads(pickle.dumps(coeffs))
    assert back.size == (5, 3) and back.wavelet == "bior2.2" and len(back) == 2
    torch.testing.assert_close(idwt2d(back), x)
    c1 = pickle.loads(pickle.dumps(dwt1d(x, "haar", dim=2)))
    assert (c1.size, c1.dim, c1.wavelet) == (5, -2, "haar")
    torch.testing.assert_close(idwt1d(c1), x)
