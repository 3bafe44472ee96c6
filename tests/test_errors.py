"""Bad input to the transforms: a ValueError/TypeError whose message names what was expected and
what was given. Odd sizes are valid input (covered by the reconstruction tests), not errors."""
from __future__ import annotations

import re
import warnings

import pytest
import torch

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
    ChWDTB,
    WaveletDownsample,
    WaveletUpsample,
    WeConv2D,
    WeConv3D,
    dwt1d,
    dwt2d,
    idwt1d,
    idwt2d,
)


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------------------------
# rank and type of the input


@pytest.mark.parametrize(
    ("call", "pattern"),
    (
        (lambda: dwt2d(_x(5)), r"x must have shape \(\.\.\., H, W\), got a 1-D tensor of shape \(5,\)"),
        (lambda: DWT2D()(_x(7)), r"got a 1-D tensor"),
        (lambda: dwt1d(torch.tensor(1.0)), r"got a 0-D tensor"),
        (lambda: idwt2d(_x(4), [_x(3, 4)]), r"ll must have shape .* got a 1-D tensor"),
        (lambda: ChannelDWT(8)(_x(8)), r"\(N, C, \.\.\.\), got a 1-D tensor of shape \(8,\)"),
        (lambda: ChannelDWT(8)(_x(1, 8, 2, 2, 2, 2)), r"got a 6-D tensor of shape \(1, 8, 2, 2, 2, 2\)"),
        (lambda: ChannelWaveletPacket(8)(_x(1, 8, 2, 2, 2, 2)), r"got a 6-D tensor"),
    ),
)
def test_wrong_rank_is_a_value_error_naming_the_shape(call, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


@pytest.mark.parametrize("dtype", (torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64))
def test_non_floating_input_is_a_type_error_naming_the_dtype(dtype: torch.dtype) -> None:
    x = torch.ones(1, 8, 4, 4, dtype=dtype)
    name = str(dtype)
    for call in (
        lambda: dwt2d(x),
        lambda: dwt1d(x, dim=1),
        lambda: DWT2D("bior4.4")(x),
        lambda: ChannelDWT(8)(x),
        lambda: ChannelWaveletPacket(8)(x),
        lambda: DWT3D(8)(x),
        lambda: idwt1d(x, x),
        lambda: idwt2d(x, [x.unsqueeze(2).expand(-1, -1, 3, -1, -1)]),
    ):
        with pytest.raises(TypeError, match=rf"floating-point tensor .*got {name}"):
            call()


def test_non_tensor_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor .*got list"):
        dwt2d([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("band_dtype", (torch.int64, torch.float64))
def test_detail_bands_of_another_dtype_are_rejected(band_dtype: torch.dtype) -> None:
    ll, highs = dwt2d(_x(1, 2, 6, 6), "haar", levels=1)
    with pytest.raises((TypeError, ValueError), match=str(band_dtype)):
        idwt2d(ll, [highs[0].to(band_dtype)], "haar")
    low, high = dwt1d(_x(2, 6), "haar")
    with pytest.raises((TypeError, ValueError), match=str(band_dtype)):
        idwt1d(low, high.to(band_dtype), "haar")


# ---------------------------------------------------------------------------------------------
# wavelet and mode names


@pytest.mark.parametrize(
    "call",
    (
        lambda: dwt2d(_x(1, 1, 4, 4), "db99x"),
        lambda: dwt1d(_x(4), "db99x"),
        lambda: idwt1d(_x(2), _x(2), "db99x"),
        lambda: DWT2D("db99x"),
        lambda: ChannelDWT(8, "db99x"),
        lambda: DWT3D(8, "db99x"),
    ),
)
def test_unknown_wavelet_is_a_value_error_naming_it(call) -> None:
    with pytest.raises(ValueError, match=r"unknown wavelet 'db99x': expected 'haar', 'bior2.2' \(5/3\)"):
        call()


def test_wavelet_that_is_not_a_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"wavelet must be a name \(str\), got int"):
        DWT2D(3)


@pytest.mark.parametrize(
    "call",
    (
        lambda: dwt2d(_x(1, 1, 4, 4), "haar", levels=1, mode="mirror"),
        lambda: dwt1d(_x(4), "haar", mode="mirror"),
        lambda: idwt2d(_x(1, 1, 2, 2), [_x(1, 1, 3, 2, 2)], "haar", mode="mirror"),
        lambda: DWT1D("haar", mode="mirror"),
        lambda: IDWT2D("haar", mode="mirror"),
        lambda: ChannelWaveletPacket(8, "haar", mode="mirror"),
    ),
)
def test_unknown_mode_is_a_value_error_naming_it_and_the_choices(call) -> None:
    with pytest.raises(ValueError, match=r"unknown boundary mode 'mirror': expected one of \(.*'jpeg2000'.*'zero'"):
        call()


@pytest.mark.parametrize("wavelet", ("db2", "sym4", "coif1"))
def test_jpeg2000_with_a_non_symmetric_wavelet_is_a_value_error(wavelet: str) -> None:
    pattern = rf"mode 'jpeg2000' needs symmetric filters .* but '{wavelet}' is not symmetric.*periodization"
    for call in (
        lambda: dwt2d(_x(1, 1, 6, 6), wavelet, levels=1, mode="jpeg2000"),
        lambda: dwt1d(_x(6), wavelet),  # jpeg2000 is the default mode
        lambda: DWT2D(wavelet, levels=1, mode="jpeg2000"),
        lambda: ChannelDWT(8, wavelet),
        lambda: DWT3D(8, wavelet),
    ):
        with pytest.raises(ValueError, match=pattern):
            call()


def test_channel_transform_in_an_expansive_mode_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"non-expansive mode \('periodization', 'jpeg2000'\), got 'symmetric'"):
        ChannelDWT(8, "haar", mode="symmetric")


# ---------------------------------------------------------------------------------------------
# channel counts


@pytest.mark.parametrize(
    ("make", "pattern"),
    (
        (lambda: ChannelDWT(6, "haar", levels=2), r"2-level channel DWT needs a channel count divisible by 4, got 6"),
        (lambda: ChannelDWT(7, "haar", levels=1), r"divisible by 2, got 7"),
        (lambda: ChannelIDWT(12, "haar", levels=3), r"divisible by 8, got 12"),
        (lambda: ChannelWaveletPacket(6), r"divisible by 4, got 6"),
        (lambda: DWT3D(10, channel_levels=2), r"divisible by 4, got 10"),
    ),
)
def test_channel_count_the_transform_cannot_split_is_a_value_error(make, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        make()


@pytest.mark.parametrize("module", (ChannelDWT(8), ChannelIDWT(8), ChannelWaveletPacket(8), DWT3D(8)))
def test_wrong_channel_count_for_the_module_is_a_value_error(module) -> None:
    with pytest.raises(ValueError, match=r"must have 8 channels \(dim 1\), got 6 in shape \(1, 6, 2, 2\)"):
        module(_x(1, 6, 2, 2))


# ---------------------------------------------------------------------------------------------
# inverse: band shapes and sizes


def _bad_bands(level: int, expected: tuple[int, ...], given: tuple[int, ...]) -> str:
    return rf"detail bands of level {level} must have shape {re.escape(str(expected))}.*got {re.escape(str(given))}"


def test_mismatched_band_shapes_to_idwt2d_are_value_errors() -> None:
    ll, highs = dwt2d(_x(2, 8, 10, 12), "haar", levels=2)  # level 1: 5x6, level 2: 3x3
    with pytest.raises(ValueError, match=_bad_bands(1, (2, 8, 3, 3, 3), (2, 8, 3, 5, 6))):
        idwt2d(ll, [highs[0]], "haar")
    with pytest.raises(ValueError, match=_bad_bands(2, (2, 8, 3, 3, 3), (2, 8, 2, 3, 3))):
        idwt2d(ll, [highs[0], highs[1][:, :, :2]], "haar")
    with pytest.raises(ValueError, match=_bad_bands(2, (2, 8, 3, 3, 3), (2, 4, 3, 3, 3))):  # channels
        idwt2d(ll, [highs[0], highs[1][:, :4]], "haar")
    with pytest.raises(ValueError, match=_bad_bands(1, (2, 8, 3, 5, 6), (1, 8, 3, 5, 6))):  # batch
        idwt2d(ll, [highs[0][:1], highs[1]], "haar")
    # level-1 bands of width 4 cannot come from level-2 bands of width 3 (4 -> 2)
    with pytest.raises(ValueError, match=r"output size \(5, 4\) is inconsistent with level-2 bands of size \(3, 3\)"):
        idwt2d(ll, [highs[0][..., :4], highs[1]], "haar")
    with pytest.raises(ValueError, match=r"highs must hold at least one level"):
        idwt2d(ll, [], "haar")
    low, high = dwt1d(_x(3, 9), "haar")
    with pytest.raises(ValueError, match=r"low and high bands must have the same shape, got \(3, 5\) and \(3, 4\)"):
        idwt1d(low, high[:, :4], "haar")


def test_inconsistent_size_is_a_value_error() -> None:
    ll, carried = dwt2d(_x(1, 2, 9, 6), "bior4.4", levels=1)  # bands 5x3
    highs = list(carried)  # plain bands: the size comes from size= alone
    with pytest.raises(ValueError, match=r"output size \(12, 6\) is inconsistent with level-1 bands of size \(5, 3\)"):
        idwt2d(ll, highs, "bior4.4", size=(12, 6))
    with pytest.raises(ValueError, match=r"axis 1"):
        idwt2d(ll, highs, "bior4.4", size=(9, 8))
    with pytest.raises(ValueError, match=r"inconsistent"):
        IDWT2D("bior4.4")(ll, highs, size=(8, 8))  # 8 -> 4 bands, not 5
    # bands that carry their size: another size, wavelet or mode is a contradiction
    with pytest.raises(ValueError, match=r"size=\(10, 6\) disagrees with the coefficients, .* size=\(9, 6\)"):
        idwt2d(ll, carried, size=(10, 6))
    with pytest.raises(ValueError, match=r"wavelet='haar' disagrees .* wavelet='bior4.4'"):
        IDWT2D("haar")(ll, carried)
    with pytest.raises(ValueError, match=r"mode='periodization' disagrees .* mode='jpeg2000'"):
        idwt2d(ll, carried, mode="periodization")
    low, high = dwt1d(_x(9), "bior4.4", mode="symmetric")  # pywt length (9 + 9) // 2 = 9
    with pytest.raises(ValueError, match=r"size 4 does not give bands of length 9 for 'bior4.4'/'symmetric'"):
        idwt1d(low, high, "bior4.4", mode="symmetric", size=4)


@pytest.mark.parametrize("size", ((9, 6, 1), (9,)))
def test_size_of_the_wrong_length_is_a_value_error(size: tuple[int, ...]) -> None:
    ll, highs = dwt2d(_x(1, 2, 9, 6), "haar", levels=1)
    with pytest.raises(ValueError, match=r"size"):
        idwt2d(ll, highs, "haar", size=size)


# ---------------------------------------------------------------------------------------------
# levels and other integer arguments


@pytest.mark.parametrize(
    ("call", "name", "given"),
    (
        (lambda: dwt2d(_x(1, 1, 4, 4), "haar", levels=0), "levels", "0"),
        (lambda: dwt2d(_x(1, 1, 4, 4), "haar", levels=-1), "levels", "-1"),
        (lambda: DWT2D("haar", levels=0), "levels", "0"),
        (lambda: ChannelDWT(8, levels=0), "levels", "0"),
        (lambda: ChannelWaveletPacket(8, levels=0), "levels", "0"),
        (lambda: DWT3D(8, levels=0), "levels", "0"),
        (lambda: DWT3D(8, channel_levels=0), "levels", "0"),
        (lambda: ChannelDWT(0), "channels", "0"),
    ),
)
def test_non_positive_counts_are_value_errors(call, name: str, given: str) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be an integer >= 1, got {given}"):
        call()


@pytest.mark.parametrize(
    "call",
    (
        lambda: dwt2d(_x(1, 1, 4, 4), "haar", levels=1.5),
        lambda: dwt2d(_x(1, 1, 4, 4), "haar", levels=True),
        lambda: DWT2D("haar", levels="2"),
        lambda: ChannelDWT(8.0),
    ),
)
def test_counts_of_the_wrong_type_are_type_errors(call) -> None:
    with pytest.raises(TypeError, match=r"must be an integer >= 1, got (float|bool|str)"):
        call()


def test_empty_axis_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"axis 1 non-empty .* but axis 1 is empty: got shape \(3, 0\)"):
        dwt1d(torch.empty(3, 0))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., H, W\) with axis 2 non-empty"):
        dwt2d(torch.empty(1, 1, 0, 4))


# ---------------------------------------------------------------------------------------------
# the pre-0.2 spellings: still working for one release, each with a DeprecationWarning


def _same_module(old: torch.nn.Module, new: torch.nn.Module, x: torch.Tensor) -> None:
    assert repr(old) == repr(new)
    new.load_state_dict(old.state_dict())
    torch.testing.assert_close(old(x), new(x), atol=0, rtol=0)


def _seeded(make):
    torch.manual_seed(0)
    return make()


def test_old_positional_transform_calls_warn_and_equal_the_keyword_spelling() -> None:
    from wavelayers.functional import dwt2d_sizes

    x = _x(1, 8, 7, 9).double()
    with pytest.warns(DeprecationWarning, match=r"dwt2d\(\): passing levels, mode positionally is deprecated"):
        old = dwt2d(x, "haar", 2, "periodization")
    new = dwt2d(x, "haar", levels=2, mode="periodization")
    assert old.size == new.size and old.mode == "periodization" and torch.equal(old.ll, new.ll)
    with pytest.warns(DeprecationWarning, match=r"idwt2d\(\): passing mode, size positionally"):
        rec = idwt2d(old.ll, list(old.highs), "haar", "periodization", (7, 9))
    torch.testing.assert_close(rec, x)
    with pytest.warns(DeprecationWarning, match=r"dwt1d\(\): passing mode, dim"):
        lo, hi = dwt1d(x, "haar", "periodization", 2)
    with pytest.warns(DeprecationWarning, match=r"idwt1d\(\): passing mode, dim, size"):
        torch.testing.assert_close(idwt1d(lo, hi, "haar", "periodization", 2, 7), x)
    with pytest.warns(DeprecationWarning, match=r"dwt2d_sizes\(\): passing mode, levels"):
        assert dwt2d_sizes((7, 9), "haar", "jpeg2000", 2) == dwt2d_sizes((7, 9), "haar", levels=2) == [
            (7, 9), (4, 5), (2, 3)]


@pytest.mark.parametrize(
    ("old", "new", "names"),
    (
        (lambda: DWT1D("haar", "periodization", 2), lambda: DWT1D("haar", mode="periodization", dim=2), "mode, dim"),
        (lambda: DWT2D("haar", 2, "periodization"), lambda: DWT2D("haar", levels=2, mode="periodization"),
         "levels, mode"),
        (lambda: ChannelDWT(8, "haar", 2, "periodization"),
         lambda: ChannelDWT(8, "haar", levels=2, mode="periodization"), "levels, mode"),
        (lambda: ChannelIDWT(8, "haar", 2), lambda: ChannelIDWT(8, "haar", levels=2), "levels"),
        (lambda: ChannelWaveletPacket(8, "haar", 3), lambda: ChannelWaveletPacket(8, "haar", levels=3), "levels"),
        (lambda: DWT3D(8, "haar", 2, 2, "jpeg2000"), lambda: DWT3D(8, "haar", levels=2, channel_levels=2),
         "levels, channel_levels, mode"),
    ),
)
def test_old_positional_transform_modules_warn_and_build_the_same(old, new, names: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"passing {names} positionally is deprecated"):
        m_old = old()
    m_new = new()
    assert repr(m_old) == repr(m_new)
    x = _x(1, 8, 7, 9)
    a, b = m_old(x), m_new(x)
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert torch.equal(a[0], b[0])


def test_old_positional_inverse_module_calls_warn() -> None:
    x = _x(1, 8, 7, 9).double()
    ll, highs = dwt2d(x, "bior4.4", levels=2)
    with pytest.warns(DeprecationWarning, match=r"IDWT2D\(\): passing mode"):
        idwt = IDWT2D("bior4.4", "jpeg2000")
    with pytest.warns(DeprecationWarning, match=r"IDWT2D.forward\(\): passing size"):
        torch.testing.assert_close(idwt(ll, list(highs), (7, 9)), x)
    with pytest.warns(DeprecationWarning, match=r"IDWT3D\(\): passing levels, channel_levels"):
        idwt3 = IDWT3D(8, "haar", 2, 1)
    c = DWT3D(8, "haar", levels=2, channel_levels=1)(x)
    with pytest.warns(DeprecationWarning, match=r"IDWT3D.forward\(\): passing size"):
        torch.testing.assert_close(idwt3(c.ll, list(c.highs), (7, 9)), x)
    lo, hi = dwt1d(x, "haar", dim=-1)
    with pytest.warns(DeprecationWarning, match=r"IDWT1D.forward\(\): passing size"):
        torch.testing.assert_close(IDWT1D("haar")(lo, hi, 9), x)


@pytest.mark.parametrize(
    ("old", "new", "pattern", "x"),
    (
        (lambda: WeConv3D(4, 8, 2), lambda: WeConv3D(4, 8, stride=2), r"passing stride positionally", (1, 4, 7, 9)),
        (lambda: WeConv3D(4, 8, 2, True), lambda: WeConv3D(4, 8, upsample="subpixel"), r"transposed", (1, 4, 7, 9)),
        (lambda: WeConv3D(4, 8, stride=2, transposed=True), lambda: WeConv3D(4, 8, upsample="subpixel"),
         r"WeConv3D\(stride=2, transposed=True\) is deprecated; write WeConv3D\(\.\.\., upsample='subpixel'\)",
         (1, 4, 7, 9)),
        (lambda: WeConv3D(4, 8, stride=2, transposed=True, upsample="transposed"),
         lambda: WeConv3D(4, 8, upsample="transposed"), r"upsample='transposed'", (1, 4, 7, 9)),
        (lambda: WeConv3D(4, 8, transposed=False, upsample="subpixel"), lambda: WeConv3D(4, 8),
         r"transposed=False\) is deprecated", (1, 4, 7, 9)),
        (lambda: WeConv3D(4, 8, 1, False, "haar", 1, 2), lambda: WeConv3D(4, 8, "haar", levels=1, channel_levels=2),
         r"passing stride, transposed, wavelet, levels, channel_levels positionally", (1, 4, 7, 9)),
        (lambda: WeConv2D(4, 8, 2, True, "bior2.2"), lambda: WeConv2D(4, 8, "bior2.2", upsample="subpixel"),
         r"WeConv2D", (1, 4, 7, 9)),
        (lambda: WeConv2D(4, 8, stride=2, transposed=True), lambda: WeConv2D(4, 8, upsample="subpixel"),
         r"WeConv2D\(stride=2, transposed=True\)", (1, 4, 7, 9)),
        (lambda: ChWDTB(8, 2, 4), lambda: ChWDTB(8, num_heads=2, window_size=4),
         r"ChWDTB\(\): passing num_heads, window_size positionally", (1, 8, 7, 9)),
        (lambda: GDN(4, True), lambda: GDN(4, inverse=True), r"GDN\(\): passing inverse positionally", (1, 4, 7, 9)),
        (lambda: WaveletDownsample(4, 2, "haar", "periodization"),
         lambda: WaveletDownsample(4, "haar", mode="periodization"), r"passing stride, wavelet, mode", (1, 4, 7, 9)),
        (lambda: WaveletDownsample(4, 1), lambda: WaveletDownsample(4, stride=1), r"passing stride", (1, 4, 7, 9)),
        (lambda: WaveletUpsample(4, "haar", "periodization"), lambda: WaveletUpsample(4, "haar", mode="periodization"),
         r"WaveletUpsample\(\): passing mode positionally", (1, 4, 7, 9)),
    ),
)
def test_old_layer_spellings_warn_and_build_the_same_layer(old, new, pattern: str, x: tuple[int, ...]) -> None:
    with pytest.warns(DeprecationWarning) as record:
        m_old = _seeded(old)
    assert any(re.search(pattern, str(w.message)) for w in record), [str(w.message) for w in record]
    assert all(w.filename == __file__ for w in record), "the warning points at the caller"
    _same_module(m_old, _seeded(new), _x(*x))


def test_old_transposed_attribute_still_reads() -> None:
    assert WeConv3D(4, 8, upsample="transposed").transposed and not WeConv3D(4, 8, stride=2).transposed


@pytest.mark.parametrize(
    ("call", "pattern"),
    (
        (lambda: WeConv3D(4, 8, "haar", 2), r"WeConv3D\(\) takes 3 positional arguments \(in_channels, "
                                            r"out_channels, wavelet\), got 4; pass the others by keyword"),
        (lambda: dwt2d(_x(4, 4), "haar", 1, "jpeg2000", 3), r"dwt2d\(\) takes at most 2 positional arguments"),
        (lambda: DWT2D("haar", 2, levels=3), r"multiple values for argument 'levels'"),
        (lambda: WeConv3D(4, 8, 2, stride=2), r"multiple values for argument 'stride'"),
    ),
)
def test_new_spelling_misuse_is_a_type_error(call, pattern: str) -> None:
    with pytest.raises(TypeError, match=pattern):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            call()
