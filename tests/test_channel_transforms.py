"""Channel-axis transforms (ChannelDWT, ChannelWaveletPacket and inverses) and the 3D composite
(DWT3D / IDWT3D) against PyWavelets along dim 1, the JPEG 2000 lifting reference, perfect
reconstruction, band-ordering probes, gradcheck, dtypes and channels_last."""
from __future__ import annotations

import math

import numpy as np
import pytest
import pywt
import torch
from torch.autograd import gradcheck

import lifting_reference as lifting
from wavelayers import (
    DWT3D,
    IDWT3D,
    ChannelDWT,
    ChannelIDWT,
    ChannelWaveletPacket,
    ChannelWaveletPacketInverse,
    dwt1d,
)

pytestmark = pytest.mark.usefixtures("single_thread")

WAVELETS = ("haar", "bior2.2", "bior4.4", "db2", "sym4")
SYMMETRIC = ("haar", "bior2.2", "bior4.4")
F64_TOL = 1e-10


def _t(a: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)


def _pywt_channel_dwt(x: np.ndarray, wavelet: str, mode: str = "periodization") -> tuple[np.ndarray, np.ndarray]:
    return pywt.dwt(x, wavelet, mode, axis=1)


def _pywt_packet(x: np.ndarray, wavelet: str, levels: int) -> np.ndarray:
    """Hand-composed packet: pywt.dwt along dim 1, then again on every band, low band first."""
    bands = [x]
    for _ in range(levels):
        bands = [b for band in bands for b in _pywt_channel_dwt(band, wavelet)]
    return np.concatenate(bands, axis=1)


def _lifting_channel_dwt(x: np.ndarray, wavelet: str) -> tuple[np.ndarray, np.ndarray]:
    """JPEG 2000 lifting along dim 1 in PyWavelets' normalisation (see tests/lifting_reference.py)."""
    ref, hi_gain = (lifting.dwt53, -1 / math.sqrt(2)) if wavelet == "bior2.2" else (lifting.dwt97, -math.sqrt(2))
    moved = np.moveaxis(x, 1, -1)
    lo = np.empty((*moved.shape[:-1], (moved.shape[-1] + 1) // 2))
    hi = np.empty((*moved.shape[:-1], moved.shape[-1] // 2))
    for index in np.ndindex(*moved.shape[:-1]):
        lo[index], hi[index] = ref(moved[index])
    return np.moveaxis(lo * math.sqrt(2), -1, 1), np.moveaxis(hi * hi_gain, -1, 1)


def _assert_close(got: torch.Tensor, expected: np.ndarray, tol: float, what: str) -> None:
    got64 = got.detach().to(torch.float64).numpy()
    assert got64.shape == expected.shape, f"{what}: shape {got64.shape} != {expected.shape}"
    err = float(np.abs(got64 - expected).max())
    scale = max(1.0, float(np.abs(expected).max()))
    assert err <= tol * scale, f"{what}: max error {err:.3e} > {tol:.0e} * {scale:.2f}"


# ---------------------------------------------------------------------------------------------
# values against PyWavelets / the lifting reference


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_channel_dwt_equals_pywt_along_channels_periodization(wavelet: str, rng: np.random.Generator) -> None:
    for channels in (2, 6, 8, 16):
        x = rng.standard_normal((2, channels, 3, 4))
        cA, cD = _pywt_channel_dwt(x, wavelet)
        y = ChannelDWT(channels, wavelet, levels=1, mode="periodization")(_t(x))
        _assert_close(y, np.concatenate([cA, cD], axis=1), F64_TOL, f"{wavelet}/C={channels}/levels=1")
        y32 = ChannelDWT(channels, wavelet, levels=1, mode="periodization")(_t(x, torch.float32))
        assert y32.dtype == torch.float32
        _assert_close(y32, np.concatenate(_pywt_channel_dwt(_t(x, torch.float32).double().numpy(), wavelet), 1),
                      1e-5, f"float32 {wavelet}/C={channels}")
    for channels in (8, 12, 16):  # two Mallat levels [LL | LH | H] = pywt.wavedec(level=2) = [cA2, cD2, cD1]
        x = rng.standard_normal((2, channels, 3))
        expected = np.concatenate(pywt.wavedec(x, wavelet, "periodization", level=2, axis=1), axis=1)
        y = ChannelDWT(channels, wavelet, levels=2, mode="periodization")(_t(x))
        _assert_close(y, expected, F64_TOL, f"{wavelet}/C={channels}/levels=2")


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_channel_wavelet_packet_equals_hand_composed_pywt_packet(wavelet: str, rng: np.random.Generator) -> None:
    for channels, levels in ((4, 2), (8, 2), (16, 2), (24, 2), (16, 3)):
        x = rng.standard_normal((2, channels, 5, 3))
        y = ChannelWaveletPacket(channels, wavelet, levels=levels, mode="periodization")(_t(x))
        _assert_close(y, _pywt_packet(x, wavelet, levels), F64_TOL, f"{wavelet}/C={channels}/levels={levels}")


@pytest.mark.parametrize("wavelet", ("bior2.2", "bior4.4"))
def test_jpeg2000_channel_transforms_equal_lifting_reference(wavelet: str, rng: np.random.Generator) -> None:
    for channels in (4, 8, 16, 32):
        x = rng.standard_normal((2, channels, 3, 2))
        lo, hi = _lifting_channel_dwt(x, wavelet)
        y = ChannelDWT(channels, wavelet, levels=1, mode="jpeg2000")(_t(x))
        _assert_close(y, np.concatenate([lo, hi], axis=1), F64_TOL, f"ChannelDWT {wavelet}/C={channels}")
        packet = np.concatenate([*_lifting_channel_dwt(lo, wavelet), *_lifting_channel_dwt(hi, wavelet)], axis=1)
        y = ChannelWaveletPacket(channels, wavelet, levels=2, mode="jpeg2000")(_t(x))
        _assert_close(y, packet, F64_TOL, f"ChWP {wavelet}/C={channels}")
        # the channel DWT is dwt1d along dim 1
        lo_f, hi_f = dwt1d(_t(x), wavelet, mode="jpeg2000", dim=1)
        y = ChannelDWT(channels, wavelet, levels=1, mode="jpeg2000")(_t(x))
        torch.testing.assert_close(y, torch.cat([lo_f, hi_f], dim=1), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# band ordering: Haar probes whose energy lands in exactly one band


def _band_energies(y: torch.Tensor, bands: int) -> list[float]:
    return [float((chunk**2).sum()) for chunk in torch.chunk(y, bands, dim=1)]


@pytest.mark.parametrize("mode", ("periodization", "jpeg2000"))
def test_band_order_is_low_to_high(mode: str) -> None:
    """Repeating channel patterns (+,+,+,+) (+,+,-,-) (+,-,+,-) (+,-,-,+) are pure LL, LH, HL, HH for Haar."""
    channels = 16
    patterns = {0: (1, 1, 1, 1), 1: (1, 1, -1, -1), 2: (1, -1, 1, -1), 3: (1, -1, -1, 1)}
    packet = ChannelWaveletPacket(channels, "haar", levels=2, mode=mode)
    dwt = ChannelDWT(channels, "haar", levels=1, mode=mode)
    for band, pattern in patterns.items():
        x = torch.tensor(pattern * (channels // 4), dtype=torch.float64).reshape(1, channels, 1, 1).expand(2, -1, 3, 3)
        energy = _band_energies(packet(x), 4)
        assert energy[band] == pytest.approx(float((x**2).sum()), rel=1e-12), (band, energy)
        assert sum(e for i, e in enumerate(energy) if i != band) < 1e-20, (band, energy)
        halves = _band_energies(dwt(x), 2)  # [L | H]: LL, LH are low-pass patterns; HL, HH high-pass
        assert halves[1 if band >= 2 else 0] == pytest.approx(float((x**2).sum()), rel=1e-12)
    # two Mallat levels: [LL | LH | H] with C/4, C/4, C/2 channels
    mallat = ChannelDWT(channels, "haar", levels=2, mode=mode)
    x = torch.tensor(patterns[1] * 4, dtype=torch.float64).reshape(1, channels, 1, 1)
    y = mallat(x).flatten()
    assert y[4:8].abs().min() > 0 and y[:4].abs().max() < 1e-12 and y[8:].abs().max() < 1e-12


# ---------------------------------------------------------------------------------------------
# perfect reconstruction, shapes, channels_last, dtypes


@pytest.mark.parametrize(
    ("wavelet", "mode"),
    [(w, "periodization") for w in WAVELETS] + [(w, "jpeg2000") for w in SYMMETRIC],
)
def test_channel_transforms_reconstruct_perfectly(wavelet: str, mode: str, rng: np.random.Generator) -> None:
    shapes = ((3, 16), (2, 16, 5), (2, 16, 7, 9), (1, 16, 3, 4, 5))
    for levels in (1, 2, 3):
        pairs = (
            (ChannelDWT(16, wavelet, levels=levels, mode=mode), ChannelIDWT(16, wavelet, levels=levels, mode=mode)),
            (ChannelWaveletPacket(16, wavelet, levels=levels, mode=mode), ChannelWaveletPacketInverse(16, wavelet, levels=levels, mode=mode)),
        )
        for forward, inverse in pairs:
            for shape in shapes:
                x = torch.from_numpy(rng.standard_normal(shape)).float()
                y = forward(x)
                assert y.shape == x.shape and y.dtype == x.dtype
                err = (inverse(y) - x).abs().max().item()
                assert err < 1e-5, f"{type(forward).__name__}/{wavelet}/{mode}/levels={levels}/{shape}: {err:.2e}"


@pytest.mark.parametrize(
    "make",
    (
        lambda: (ChannelDWT(8, "bior4.4", levels=1), ChannelIDWT(8, "bior4.4", levels=1)),
        lambda: (ChannelDWT(8, "db2", levels=2, mode="periodization"), ChannelIDWT(8, "db2", levels=2, mode="periodization")),
        lambda: (ChannelWaveletPacket(8, "bior2.2"), ChannelWaveletPacketInverse(8, "bior2.2")),
    ),
)
def test_channels_last_input_keeps_values_and_memory_format(make) -> None:
    forward, inverse = make()
    x = torch.randn(2, 8, 5, 7, generator=torch.Generator().manual_seed(0))
    xc = x.contiguous(memory_format=torch.channels_last)
    y, yc = forward(x), forward(xc)
    assert yc.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(yc, y, rtol=1e-6, atol=1e-6)
    rec = inverse(yc)
    assert rec.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(rec, x, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("dtype", "rel_tol"), ((torch.float16, 4e-3), (torch.bfloat16, 3e-2)))
def test_half_precision_channel_transforms_track_float32(dtype: torch.dtype, rel_tol: float) -> None:
    x = torch.randn(2, 16, 6, 5, generator=torch.Generator().manual_seed(1))
    for module in (ChannelDWT(16, "bior4.4", levels=2), ChannelWaveletPacket(16, "bior4.4")):
        ref = module(x)
        got = module(x.to(dtype))
        assert got.dtype == dtype
        assert (got.float() - ref).abs().max().item() <= rel_tol * ref.abs().max().item()


def test_channel_modules_hold_no_parameters_or_buffers() -> None:
    for module in (ChannelDWT(8), ChannelWaveletPacket(8), DWT3D(8), IDWT3D(8)):
        assert len(module.state_dict()) == 0 and len(list(module.parameters())) == 0


# ---------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize("mode", ("jpeg2000", "periodization"))
@pytest.mark.parametrize("wavelet", SYMMETRIC)
def test_gradcheck_channel_transforms(wavelet: str, mode: str) -> None:
    x = torch.randn(1, 8, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    for module in (
        ChannelDWT(8, wavelet, levels=1, mode=mode),
        ChannelDWT(8, wavelet, levels=2, mode=mode),
        ChannelIDWT(8, wavelet, levels=2, mode=mode),
        ChannelWaveletPacket(8, wavelet, levels=2, mode=mode),
        ChannelWaveletPacketInverse(8, wavelet, levels=2, mode=mode),
    ):
        assert gradcheck(module, (x,)), type(module).__name__
    xc = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    assert gradcheck(ChannelWaveletPacket(8, wavelet, levels=2, mode=mode), (xc,))


# ---------------------------------------------------------------------------------------------
# the 3D composite


@pytest.mark.parametrize("mode", ("jpeg2000", "periodization"))
def test_dwt3d_idwt3d_round_trip_odd_sizes(mode: str, rng: np.random.Generator) -> None:
    for wavelet in ("haar", "bior2.2", "bior4.4"):
        for channel_levels in (1, 2):
            for levels, (H, W) in ((1, (13, 10)), (2, (7, 9)), (3, (33, 47))):
                x = torch.from_numpy(rng.standard_normal((2, 8, H, W))).float()
                ll, highs = DWT3D(8, wavelet, levels=levels, channel_levels=channel_levels, mode=mode)(x)
                assert len(highs) == levels and ll.shape[:2] == (2, 8)
                idwt = IDWT3D(8, wavelet, levels=levels, channel_levels=channel_levels, mode=mode)
                # the size travels with the coefficients; size= is needed only for bands in a plain list
                for rec in (idwt(ll, highs), idwt(ll, list(highs), size=(H, W))):
                    assert rec.shape == x.shape
                    err = (rec - x).abs().max().item()
                    assert err < 1e-5, f"{wavelet}/{mode}/channel_levels={channel_levels}/levels={levels}: {err:.2e}"
                with pytest.raises(ValueError, match=r"cannot know the output size"):
                    idwt(ll, list(highs))


@pytest.mark.parametrize("wavelet", ("haar", "db2", "bior4.4"))
def test_dwt3d_equals_pywt_channel_then_spatial(wavelet: str, rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 8, 6, 9))
    channel = np.concatenate(_pywt_channel_dwt(x, wavelet), axis=1)
    coeffs = pywt.wavedec2(channel, wavelet, "periodization", level=2)
    ll, highs = DWT3D(8, wavelet, levels=2, channel_levels=1, mode="periodization")(_t(x))
    _assert_close(ll, coeffs[0], F64_TOL, "ll")
    _assert_close(highs[0], np.stack(coeffs[2], axis=2), F64_TOL, "finest highs")
    _assert_close(highs[1], np.stack(coeffs[1], axis=2), F64_TOL, "coarsest highs")


def test_gradcheck_dwt3d_and_idwt3d() -> None:
    x = torch.randn(1, 4, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    dwt = DWT3D(4, "bior4.4", levels=1, channel_levels=1)
    idwt = IDWT3D(4, "bior4.4", levels=1, channel_levels=1)

    def forward(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ll, highs = dwt(t)
        return (ll, *highs)

    assert gradcheck(forward, (x,))
    ll, highs = dwt(x.detach())
    coeffs = (ll.clone().requires_grad_(), highs[0].clone().requires_grad_())
    assert gradcheck(lambda a, h: idwt(a, [h], size=(5, 3)), coeffs)


def test_channel_matrices_do_not_depend_on_what_was_built_first() -> None:
    """Matrices built under the lifting rule (as inside torch.compile) are cached apart from the eager
    ones, so an eager call after a compiled one gets exactly what a fresh eager call gets."""
    from wavelayers import clear_caches, use_backend
    from wavelayers.channel import channel_matrices

    args = ("bior4.4", "jpeg2000", 8, 1, False, torch.device("cpu"), torch.float64)
    clear_caches()
    eager = [t.clone() for t in channel_matrices(*args)]
    clear_caches()
    with use_backend("lifting"):
        lifted = channel_matrices(*args)
    after = channel_matrices(*args)
    for e, a in zip(eager, after):
        torch.testing.assert_close(a, e, rtol=0, atol=0)
    torch.testing.assert_close(lifted[0], eager[0], rtol=0, atol=1e-11)  # the two backends agree to rounding
