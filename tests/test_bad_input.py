"""The usual mistakes, fed to every public transform, layer and re-sampler of the core.

The rule (docs/guide.md, "Errors"): TypeError for a wrong type (not a tensor, an integer or bool
tensor, a size that is not ints), ValueError for a right type with a wrong value (rank, channel
count, an empty spatial or channel axis, a size the bands cannot come from). NaN/inf are not
errors: every transform is linear and every layer is made of standard ops, so they pass through
to the outputs they touch (no hidden device sync to look for them). Non-contiguous and
channels_last inputs are valid and give the contiguous input's result.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from wavelayers import (
    DWT1D,
    DWT2D,
    DWT3D,
    GDN,
    IDWT1D,
    IDWT2D,
    IDWT3D,
    ChannelDWT,
    ChannelIDWT,
    ChannelWaveletPacket,
    ChannelWaveletPacketInverse,
    ChWDTB,
    FloorDownsample,
    WaveletDownsample,
    WaveletUpsample,
    WeConv2D,
    WeConv3D,
    dwt1d,
    dwt2d,
    idwt1d,
    idwt2d,
)

pytestmark = pytest.mark.usefixtures("single_thread")

C = 8


@dataclass(frozen=True)
class Entry:
    """One public entry point: ``make()`` builds it, ``call(obj, x)`` feeds it a tensor."""

    make: Callable[[], Callable]
    layout: str  # what the message must name, e.g. "(N, C, H, W)"
    bad_ranks: tuple[int, ...]
    channels: int | None = None  # None: any channel count
    call: Callable = staticmethod(lambda f, x: f(x))
    empty_ok_axes: tuple[int, ...] = (0,)  # axes whose size may be 0 (an empty batch)


def _first(out):
    return out if isinstance(out, torch.Tensor) else out[0]


def _built(factory):
    def make():
        torch.manual_seed(0)
        return factory().double().eval()
    return make


ENTRIES = {
    "dwt1d": Entry(lambda: lambda x: dwt1d(x, "bior4.4"), r"\(\.\.\., n, \.\.\.\)", (0,), empty_ok_axes=(0, 1, 2)),
    "dwt2d": Entry(lambda: lambda x: dwt2d(x, "bior4.4", levels=2), r"\(\.\.\., H, W\)", (1,), empty_ok_axes=(0, 1)),
    "DWT1D": Entry(lambda: DWT1D("haar", dim=2), r"\(\.\.\., n, \.\.\.\)", (0,), empty_ok_axes=(0, 1, 3)),
    "DWT2D": Entry(lambda: DWT2D("bior2.2", levels=2), r"\(\.\.\., H, W\)", (1,), empty_ok_axes=(0, 1)),
    "ChannelDWT": Entry(lambda: ChannelDWT(C, "bior4.4"), r"\(N, C, \.\.\.\)", (1, 6), C),
    "ChannelIDWT": Entry(lambda: ChannelIDWT(C, "haar", levels=2), r"\(N, C, \.\.\.\)", (1, 6), C),
    "ChannelWaveletPacket": Entry(lambda: ChannelWaveletPacket(C), r"\(N, C, \.\.\.\)", (1, 6), C),
    "ChannelWaveletPacketInverse": Entry(lambda: ChannelWaveletPacketInverse(C), r"\(N, C, \.\.\.\)", (1, 6), C),
    "DWT3D": Entry(lambda: DWT3D(C, "bior4.4", levels=2), r"\(N, C, \.\.\.\)", (1, 6), C),
    "WeConv3D": Entry(_built(lambda: WeConv3D(C, C, levels=2)), r"\(N, C, H, W\)", (3, 5), C),
    "WeConv3D-s2": Entry(_built(lambda: WeConv3D(C, 16, stride=2, separate_channel_groups=True)),
                         r"\(N, C, H, W\)", (3, 5), C),
    "WeConv3D-up": Entry(_built(lambda: WeConv3D(C, 4, upsample="transposed", norm="gdn")), r"\(N, C, H, W\)",
                         (3, 5), C),
    "WeConv2D": Entry(_built(lambda: WeConv2D(C, C, upsample="subpixel")), r"\(N, C, H, W\)", (3, 5), C),
    "ChWDTB": Entry(_built(lambda: ChWDTB(C, num_heads=2, window_size=4, shift=True)), r"\(N, C, H, W\)", (3, 5), C),
    "GDN": Entry(_built(lambda: GDN(C)), r"\(N, C, H, W\)", (3, 5), C),
    "WaveletDownsample": Entry(lambda: WaveletDownsample(C), r"\(N, C, H, W\)", (3, 5), C),
    "WaveletDownsample-any": Entry(lambda: WaveletDownsample(), r"\(N, C, H, W\)", (3, 5)),
    "WaveletUpsample": Entry(lambda: WaveletUpsample(C, "haar"), r"\(N, C, H, W\)", (3, 5), C),
    "FloorDownsample": Entry(lambda: FloorDownsample(WaveletDownsample(C)), r"\(N, C, H, W\)", (3, 5), C),
}


def _x(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)


def _shape(rank: int) -> tuple[int, ...]:
    return (2, C, 7, 9, 3, 2)[:rank] if rank else ()


def _run(entry: Entry, x: torch.Tensor):
    return entry.call(entry.make(), x)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_wrong_rank_is_a_value_error_naming_the_layout(name: str) -> None:
    entry = ENTRIES[name]
    for rank in entry.bad_ranks:
        x = _x(*_shape(rank))
        with pytest.raises(ValueError, match=rf"must have shape {entry.layout}, got a {rank}-D tensor"):
            _run(entry, x)


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex128])
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_non_floating_dtype_is_a_type_error_naming_it(name: str, dtype: torch.dtype) -> None:
    x = torch.ones(2, C, 7, 9, dtype=dtype)
    with pytest.raises(TypeError, match=rf"floating-point tensor .*got {re.escape(str(dtype))}"):
        _run(ENTRIES[name], x)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_non_tensor_input_is_a_type_error(name: str) -> None:
    with pytest.raises(TypeError, match=r"must be a torch.Tensor .*got list"):
        _run(ENTRIES[name], [[1.0, 2.0]])


@pytest.mark.parametrize("name", sorted(n for n, e in ENTRIES.items() if e.channels is not None))
def test_wrong_channel_count_is_a_value_error_naming_both_counts(name: str) -> None:
    with pytest.raises(ValueError, match=rf"must have {C} channels \(dim 1\), got 6 in shape \(2, 6, "):
        _run(ENTRIES[name], _x(2, 6, 7, 9))


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_empty_axis_is_a_value_error_and_an_empty_batch_is_fine(name: str) -> None:
    entry = ENTRIES[name]
    for axis in range(4):
        shape = [2, C, 7, 9]
        shape[axis] = 0
        x = _x(*shape)
        if axis in entry.empty_ok_axes:
            out = _first(_run(entry, x))
            assert out.numel() == 0, f"axis {axis}"
        else:
            with pytest.raises(ValueError, match=rf"axis {axis} .*is empty: got shape {re.escape(str(tuple(shape)))}"):
                _run(entry, x)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_nan_passes_through_without_an_error(name: str) -> None:
    """Documented behaviour: a NaN input gives NaN outputs where it reaches, and no exception."""
    x = _x(2, C, 7, 9)
    x[0, 0, 3, 4] = float("nan")
    out = _first(_run(ENTRIES[name], x))
    assert torch.isnan(out).any()
    clean = _first(_run(ENTRIES[name], _x(2, C, 7, 9)))
    assert torch.isfinite(clean).all()


def _layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    wide = _x(x.shape[0], x.shape[1], x.shape[2], 2 * x.shape[3])
    wide[..., ::2] = x
    return {
        "channels_last": x.contiguous(memory_format=torch.channels_last),
        "strided": wide[..., ::2],
        "transposed": x.transpose(-1, -2).contiguous().transpose(-1, -2),
        "expanded batch": x[:1].expand(2, -1, -1, -1),
    }


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_non_contiguous_and_channels_last_inputs_equal_the_contiguous_result(name: str) -> None:
    entry = ENTRIES[name]
    module = entry.make()
    base = _x(2, C, 7, 9)
    base[1] = base[0]  # so that the expanded batch is the same tensor
    expected = entry.call(module, base)
    for layout, x in _layouts(base).items():
        assert not x.is_contiguous(), layout
        got = entry.call(module, x)
        for a, b in zip(*(((o,) if isinstance(o, torch.Tensor) else (o[0], *o[1])) for o in (got, expected))):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0, msg=lambda m: f"{name} / {layout}: {m}")


# ---------------------------------------------------------------------------------------------
# inverses: the bands and size= are the input


INVERSES = {
    "idwt2d": (lambda x: dwt2d(x, "bior4.4", levels=2), lambda ll, highs, **k: idwt2d(ll, highs, "bior4.4", **k)),
    "IDWT2D": (DWT2D("bior2.2", levels=2), lambda ll, highs, **k: IDWT2D("bior2.2")(ll, highs, **k)),
    "IDWT3D": (DWT3D(C, "haar", levels=2), lambda ll, highs, **k: IDWT3D(C, "haar", levels=2)(ll, highs, **k)),
}


@pytest.mark.parametrize("name", sorted(INVERSES))
def test_inverse_band_mistakes(name: str) -> None:
    forward, inverse = INVERSES[name]
    ll, highs = forward(_x(2, C, 7, 9))
    plain = list(highs)
    with pytest.raises(TypeError, match=r"floating-point tensor .*got torch.int64"):
        inverse(ll.long(), highs)
    with pytest.raises(TypeError, match=r"highs\[0\] must be a floating-point tensor .*got torch.int64"):
        inverse(ll, [plain[0].long(), plain[1]], size=(7, 9))
    with pytest.raises(TypeError, match=r"highs\[1\] must have the dtype of the approximation band"):
        inverse(ll, [plain[0], plain[1].float()], size=(7, 9))
    with pytest.raises(ValueError, match=r"highs\[1\] must have shape \(\.\.\., 3, h, w\), got a 2-D tensor"):
        inverse(ll, [plain[0], plain[1][0, 0, 0]], size=(7, 9))
    with pytest.raises(ValueError, match=r"detail bands of level 2 must have shape .* got \(2, 6, 3, 2, 3\)"):
        inverse(ll, [plain[0], plain[1][:, :6]], size=(7, 9))
    with pytest.raises(TypeError, match=r"highs must be the list of detail bands .* got Tensor"):
        inverse(ll, plain[0], size=(7, 9))
    with pytest.raises(ValueError, match=r"highs must hold at least one level"):
        inverse(ll, [], size=(7, 9))


@pytest.mark.parametrize("name", sorted(INVERSES))
def test_inverse_size_mistakes(name: str) -> None:
    forward, inverse = INVERSES[name]
    ll, highs = forward(_x(2, C, 7, 9))
    plain = list(highs)
    for size, exc, pattern in (
        (None, ValueError, r"cannot know the output size .* pass size=\(H, W\)"),
        ((7,), ValueError, r"size must be a sequence of 2 ints >= 1 such as \(H, W\), got \(7,\)"),
        ((7, 9, 1), ValueError, r"size must be a sequence of 2 ints .* got \(7, 9, 1\)"),
        ((0, 9), ValueError, r"size must be a sequence of 2 ints >= 1 .* got \(0, 9\)"),
        ((7.0, 9), TypeError, r"size must be a sequence of 2 ints .* got \(7.0, 9\)"),
        ("7x9", TypeError, r"size must be a sequence of 2 ints .* got '7x9'"),
        (7, TypeError, r"size must be a sequence of 2 ints .* got 7"),
        ((5, 9), ValueError, r"output size \(5, 9\) is inconsistent with level-1 bands of size \(4, 5\)"),
        ((14, 9), ValueError, r"inconsistent .* \(axis 0\)"),  # a size two levels cannot come from
    ):
        with pytest.raises(exc, match=pattern):
            inverse(ll, plain, size=size)
    with pytest.raises(ValueError, match=r"size=\(8, 9\) disagrees with the coefficients, .* size=\(7, 9\)"):
        inverse(ll, highs, size=(8, 9))


def test_inverse_nan_and_non_contiguous_bands() -> None:
    ll, highs = dwt2d(_x(2, C, 7, 9), "bior4.4", levels=2)
    expected = idwt2d(ll, highs)
    bad = ll.clone()
    bad[0, 0, 0, 0] = float("nan")
    assert torch.isnan(idwt2d(bad, highs)).any()
    cl = ll.contiguous(memory_format=torch.channels_last)
    strided = [h.transpose(-1, -2).contiguous().transpose(-1, -2) for h in highs]
    torch.testing.assert_close(idwt2d(cl, strided, "bior4.4", size=(7, 9)), expected, atol=1e-10, rtol=0)


def test_idwt1d_mistakes() -> None:
    coeffs = dwt1d(_x(2, C, 7, 9), "haar", dim=2)
    lo, hi = coeffs
    for call, exc, pattern in (
        (lambda: idwt1d(lo, hi, "haar", dim=2), ValueError, r"cannot know the signal length .* 7 or 8 samples"),
        (lambda: idwt1d(lo, hi, "haar", dim=2, size=9), ValueError, r"size 9 does not give bands of length 4"),
        (lambda: idwt1d(lo, hi, "haar", dim=2, size=(7, 9)), TypeError, r"size must be an int >= 1, got \(7, 9\)"),
        (lambda: idwt1d(lo, hi, "haar", dim=2, size=0), ValueError, r"size must be an int >= 1, got \(0,\)"),
        (lambda: idwt1d(lo, hi.long(), "haar", size=7), TypeError, r"floating-point .* torch.int64"),
        (lambda: idwt1d(lo, hi[:, :, :3], "haar", dim=2, size=7), ValueError, r"same shape"),
        (lambda: idwt1d(lo), TypeError, r"needs the WaveletCoeffs1D .* or both bands"),
        (lambda: idwt1d(coeffs, dim=1), ValueError, r"dim=-3 disagrees .* dim=-2"),
        (lambda: dwt1d(_x(2, 3), dim=2), ValueError, r"dim must be in \[-2, 2\) for a 2-D input, got 2"),
        (lambda: dwt1d(_x(2, 3), dim=1.0), TypeError, r"dim must be an int, got float"),
        (lambda: IDWT1D("haar", dim=2)(lo, hi), ValueError, r"pass size="),
    ):
        with pytest.raises(exc, match=pattern):
            call()
    torch.testing.assert_close(IDWT1D("haar", dim=2)(lo, hi, size=7), _x(2, C, 7, 9))


# ---------------------------------------------------------------------------------------------
# constructor arguments: types vs values


@pytest.mark.parametrize(
    ("make", "exc", "pattern"),
    (
        (lambda: WeConv3D(C, 6, channel_levels=2), ValueError, r"divisible by 4, got 6"),  # a level count 6 can't reach
        (lambda: ChWDTB(6, num_heads=2, channel_levels=2), ValueError, r"divisible by 4, got 6"),
        (lambda: ChannelWaveletPacket(12, levels=3), ValueError, r"divisible by 8, got 12"),
        (lambda: WeConv3D(C, C, levels=2.0), TypeError, r"levels must be an integer >= 1, got float 2.0"),
        (lambda: WeConv3D(C, C, kernel_size=3.0), TypeError, r"kernel_size must be a positive odd integer, got float"),
        (lambda: WeConv3D(C, C, wavelet=97), TypeError, r"wavelet must be a name \(str\), got int"),
        (lambda: WeConv3D(C, C, norm=nn.BatchNorm2d(C)), TypeError, r"norm must be a name, an nn.Module class or a "
                                                                    r"factory, got the instance"),
        (lambda: WeConv3D(C, C, act=nn.ReLU()), TypeError, r"pass the class \(ReLU\)"),
        (lambda: WeConv3D(C, C, act=3), TypeError, r"act must be a name \(str\), None, or a callable"),
        (lambda: WeConv3D(C, C, norm=lambda c: None), TypeError, r"norm\(8\) must return an nn.Module, got NoneType"),
        (lambda: WeConv3D(C, C, separate_channel_groups=1), TypeError, r"separate_channel_groups must be a bool"),
        (lambda: GDN(0), ValueError, r"channels must be an integer >= 1, got 0"),
        (lambda: GDN(C, inverse="yes"), TypeError, r"inverse must be a bool"),
        (lambda: WaveletDownsample(C, stride=3), ValueError, r"stride must be 1 \(identity\) or 2"),
        (lambda: WaveletUpsample(C, mode="zero"), ValueError, r"non-expansive"),
        (lambda: FloorDownsample(WaveletDownsample), TypeError, r"layer must be an nn.Module, got type"),
    ),
)
def test_constructor_mistakes(make, exc, pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        make()


def test_norm_and_act_accept_classes_and_factories() -> None:
    import functools

    m = WeConv3D(C, C, norm=nn.BatchNorm2d, act=nn.GELU)
    assert isinstance(m.lf_norm, nn.BatchNorm2d) and m.lf_norm.num_features == C
    assert all(isinstance(n, nn.BatchNorm2d) and n.num_features == 3 * C for n in m.hf_norms)
    assert isinstance(m.act, nn.GELU)
    m = WeConv2D(C, C, norm=functools.partial(nn.GroupNorm, 4), act=functools.partial(nn.LeakyReLU, 0.2))
    assert m.lf_norm.num_groups == 4 and m.act.negative_slope == 0.2
    m = WeConv3D(C, C, norm=GDN)
    assert isinstance(m.lf_norm, GDN)
    assert m(_x(1, C, 7, 9).float()).shape == (1, C, 7, 9)


def test_empty_batch_round_trips_in_1d_along_any_axis() -> None:
    x = _x(0, C, 7, 9)
    for dim in (1, 2, 3):
        coeffs = dwt1d(x, "bior4.4", dim=dim)
        assert coeffs.low.shape[dim] == (x.shape[dim] + 1) // 2 and coeffs.low.numel() == 0
        assert idwt1d(coeffs).shape == x.shape
