"""Slice-wise wavelet entropy models: band layout against PyWavelets, slice order and shapes,
perfect reconstruction, causality, bit-exact rANS round trips, and the stage-2 rate weighting."""
from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from integrations.compression.entropy_models import ChWP, ThreeDWeChARM, WeChARM
from integrations.lic.loss import RateDistortionLoss

pytestmark = pytest.mark.usefixtures("single_thread_module")

M, HYPER = 32, 12
SMALL = dict(context_channels=8, width=8, param_width=8)



def _models(mode: str = "jpeg2000", wavelet: str = "bior4.4"):
    torch.manual_seed(0)
    kw = dict(SMALL, mode=mode, wavelet=wavelet)
    return {
        "3d": ThreeDWeChARM(M, HYPER, **kw),
        "wecharm": WeChARM(M, HYPER, ll_slices=4, hf_slices=2, **kw),
        "chwp8": ChWP(M, HYPER, slices_per_band=2, **kw),
        "chwp4": ChWP(M, HYPER, slices_per_band=1, **kw),
    }


def test_3dwecharm_slices_order_and_shapes():
    em = ThreeDWeChARM(M, HYPER, **SMALL)
    names = [s.name for s in em.slices]
    assert names == ["LLL0", "LLL1", "HLL0", "HLL1", "LLH", "LHL", "LHH", "HLH", "HHL", "HHH"]
    assert [s.channels for s in em.slices] == [M // 4] * 4 + [M // 2] * 6
    assert em.bands == ("LLL", "HLL", "LLH", "LHL", "LHH", "HLH", "HHL", "HHH")
    assert em.low_frequency_bands == ("LLL", "HLL")
    y = torch.randn(2, M, 6, 9)
    slices = em.split(y)
    assert [tuple(t.shape) for t in slices] == [(2, s.channels, 3, 5) for s in em.slices]
    assert em.grid_size((6, 9)) == (3, 5)
    # Each slice coder sees the context plus every earlier slice.
    supports = [c.attention.proj.in_channels for c in em.coders]
    assert supports == [8 + sum(s.channels for s in em.slices[:i]) for i in range(10)]
    _, lik = em(y, torch.randn(2, HYPER, 6, 9))
    assert list(lik) == list(em.bands)
    assert all(tuple(v.shape) == (2, M // 2, 3, 5) for v in lik.values())


def _pywt_bands_3d(y: np.ndarray, wavelet: str) -> dict[str, np.ndarray]:
    """Independent oracle: channel DWT (axis 1) then 2D DWT, PyWavelets 'periodization'."""
    out = {}
    for c, t in zip("LH", pywt.dwt(y, wavelet, mode="periodization", axis=1)):
        ll, (ch, cv, cd) = pywt.dwt2(t, wavelet, mode="periodization", axes=(-2, -1))
        out.update({c + "LL": ll, c + "LH": ch, c + "HL": cv, c + "HH": cd})
    return out


@pytest.mark.parametrize("wavelet", ["haar", "bior4.4"])
def test_3dwecharm_bands_match_pywavelets(wavelet):
    em = ThreeDWeChARM(M, HYPER, mode="periodization", wavelet=wavelet, **SMALL).double()
    y = torch.randn(1, M, 8, 12, dtype=torch.float64)
    ref = _pywt_bands_3d(y.numpy(), wavelet)
    slices = em.split(y)
    got = {"LLL": torch.cat(slices[0:2], 1), "HLL": torch.cat(slices[2:4], 1)}
    got.update(dict(zip(["LLH", "LHL", "LHH", "HLH", "HHL", "HHH"], slices[4:])))
    for band, t in got.items():
        np.testing.assert_allclose(t.numpy(), ref[band], atol=1e-10, err_msg=band)


def test_wecharm_and_chwp_slices_match_pywavelets():
    models = _models(mode="periodization", wavelet="bior4.4")
    y = torch.randn(1, M, 8, 10, dtype=torch.float64)
    yn = y.numpy()
    ll, (ch, cv, cd) = pywt.dwt2(yn, "bior4.4", mode="periodization", axes=(-2, -1))
    we = models["wecharm"].double()
    slices = we.split(y)
    assert [s.name for s in we.slices] == ["LL0", "LL1", "LL2", "LL3", "HF0", "HF1"]
    np.testing.assert_allclose(torch.cat(slices[:4], 1).numpy(), ll, atol=1e-10)
    half = M // 2  # hf_slices=2: slice k holds channel chunk k of LH, HL, HH
    for k in range(2):
        ref = np.concatenate([b[:, k * half : (k + 1) * half] for b in (ch, cv, cd)], axis=1)
        np.testing.assert_allclose(slices[4 + k].numpy(), ref, atol=1e-10)
    # ChWP: two channel levels splitting both bands -> [LL | LH | HL | HH].
    lo, hi = pywt.dwt(yn, "bior4.4", mode="periodization", axis=1)
    ref = np.concatenate([*pywt.dwt(lo, "bior4.4", mode="periodization", axis=1),
                          *pywt.dwt(hi, "bior4.4", mode="periodization", axis=1)], axis=1)
    for key, per_band in (("chwp8", 2), ("chwp4", 1)):
        em = models[key].double()
        assert len(em.slices) == 4 * per_band
        assert [s.parts[0][0] for s in em.slices] == [b for b in ("LL", "LH", "HL", "HH") for _ in range(per_band)]
        np.testing.assert_allclose(torch.cat(em.split(y), 1).numpy(), ref, atol=1e-10)


@pytest.mark.parametrize("key", ["3d", "wecharm", "chwp8", "chwp4"])
@pytest.mark.parametrize("size", [(6, 8), (5, 7)])
def test_split_merge_perfect_reconstruction(key, size):
    em = _models()[key].double()
    y = torch.randn(2, M, *size, dtype=torch.float64)
    torch.testing.assert_close(em.merge(em.split(y), size), y, atol=1e-10, rtol=0)


@pytest.mark.parametrize("key", ["3d", "wecharm", "chwp8"])
def test_slices_are_causal(key):
    """Entropy parameters of slice i depend on the hyperprior and slices < i only."""
    em = _models()[key].eval()
    y, hyper = torch.randn(1, M, 6, 8) * 3, torch.randn(1, HYPER, 6, 8)
    k = 2

    def params(y_in):
        ys = em.split(y_in)
        out = []

        def code(i, means, scales):
            out.append(torch.cat((means, scales), 1))
            return torch.round(ys[i] - means) + means

        em._code_slices(hyper, code)
        return out

    base = params(y)
    ys = em.split(y)
    ys[k] = ys[k] + 5.0
    changed = params(em.merge(ys, (6, 8)))
    for i in range(len(base)):
        same = torch.allclose(base[i], changed[i], atol=1e-5)
        assert same == (i <= k), f"slice {i}: parameters {'un' if same else ''}changed by slice {k}"


@pytest.mark.parametrize("key", ["3d", "wecharm", "chwp8", "chwp4"])
def test_rans_round_trip_is_bit_exact(key):
    em = _models()[key].eval()
    em.update(force=True)
    y, hyper = torch.randn(1, M, 5, 7) * 4, torch.randn(1, HYPER, 5, 7)
    stream, y_hat_enc = em.compress(y, hyper)
    y_hat_dec = em.decompress(stream, hyper, (5, 7))
    assert isinstance(stream, bytes) and len(stream) > 0
    assert torch.equal(y_hat_enc, y_hat_dec)
    # Quantisation error (<= 0.5) plus the LRP correction (|.| < 0.5) in the coded (band) domain.
    err = max(float((a - b).abs().max()) for a, b in zip(em.split(y_hat_dec), em.split(y)))
    assert err <= 1.0 + 1e-4
    # The eval-mode forward pass reconstructs the same latent (up to the STE's float rounding).
    y_hat_fwd, _ = em(y, hyper)
    torch.testing.assert_close(y_hat_fwd, y_hat_dec, atol=1e-4, rtol=0)


def test_input_validation():
    with pytest.raises(ValueError, match="divisible by 4"):
        ThreeDWeChARM(30, HYPER)
    with pytest.raises(ValueError, match="slices_per_band"):
        ChWP(M, HYPER, slices_per_band=3)
    with pytest.raises(ValueError, match="ll_slices"):
        WeChARM(M, HYPER, ll_slices=5)
    with pytest.raises(ValueError, match="non-expansive"):
        ThreeDWeChARM(M, HYPER, mode="symmetric")
    em = ThreeDWeChARM(M, HYPER, **SMALL)
    with pytest.raises(ValueError, match="hyper must have shape"):
        em(torch.randn(1, M, 4, 4), torch.randn(1, HYPER, 2, 2))
    with pytest.raises(RuntimeError, match="update"):
        em.compress(torch.randn(1, M, 4, 4), torch.randn(1, HYPER, 4, 4))


def test_stage2_weights_reweight_band_rates_as_eq2():
    torch.manual_seed(0)
    em = ThreeDWeChARM(M, HYPER, **SMALL)
    with torch.no_grad():
        _, lik = em(torch.randn(2, M, 4, 6) * 2, torch.randn(2, HYPER, 4, 6))
    target = torch.rand(2, 3, 64, 96)
    output = {"x_hat": target + 0.1 * torch.randn_like(target), "likelihoods": {**lik, "z": torch.rand(2, 4, 1, 1)}}
    base = RateDistortionLoss(0.01, em.low_frequency_bands)(output, target)
    w1, w2 = 1.7, 0.6
    stage2 = RateDistortionLoss(0.01, em.low_frequency_bands, w1=w1, w2=w2)(output, target)
    n_pix = 2 * 64 * 96
    bits = {k: float(-torch.log2(v).sum()) / n_pix for k, v in output["likelihoods"].items()}
    r_low = bits["LLL"] + bits["HLL"]
    r_high = sum(v for k, v in bits.items() if k not in ("LLL", "HLL", "z"))
    assert float(base["bpp_low"]) == pytest.approx(r_low, rel=1e-5)
    assert float(base["bpp_high"]) == pytest.approx(r_high, rel=1e-5)
    assert float(base["bpp"]) == pytest.approx(sum(bits.values()), rel=1e-5)
    mse = float(torch.mean((output["x_hat"] - target) ** 2))
    assert float(base["loss"]) == pytest.approx(r_low + r_high + bits["z"] + 0.01 * 255**2 * mse, rel=1e-5)
    assert float(stage2["loss"] - base["loss"]) == pytest.approx((w1 - 1) * r_low + (w2 - 1) * r_high, rel=1e-4)
    with pytest.raises(ValueError, match="low bands"):
        RateDistortionLoss(0.01, ("LL",))(output, target)


def test_ms_ssim_distortion():
    from pytorch_msssim import ms_ssim

    torch.manual_seed(0)
    target = torch.rand(1, 3, 176, 176)
    x_hat = (target + 0.05 * torch.randn_like(target)).clamp(0, 1)
    lik = {"LLL": torch.full((1, 4, 2, 2), 0.5), "LLH": torch.full((1, 4, 2, 2), 0.25), "z": torch.ones(1, 2, 1, 1)}
    out = RateDistortionLoss(8.0, ("LLL",), metric="ms-ssim")({"x_hat": x_hat, "likelihoods": lik}, target)
    expected_bpp = (16 * 1 + 16 * 2) / (176 * 176)
    assert float(out["bpp"]) == pytest.approx(expected_bpp, rel=1e-6)
    assert float(out["loss"]) == pytest.approx(expected_bpp + 8.0 * (1 - float(ms_ssim(x_hat, target, data_range=1.0))),
                                               rel=1e-6)
    with pytest.raises(ValueError, match="metric"):
        RateDistortionLoss(8.0, ("LLL",), metric="ssim")
