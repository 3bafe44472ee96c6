"""The rewriters' pure site rules, tree walk and layer contract, each alone.

Size rules are checked against the output sizes torch itself gives; site rules against hand-built
modules whose verdict is known.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wavelayers import WeConv3D
from wavelayers.rewrite import rules
from wavelayers.rewrite.contract import factory_call_kwargs
from wavelayers.rewrite.rules import Keep, NewLayer, Resampler, Swap
from wavelayers.rewrite.walk import walk

pytestmark = pytest.mark.usefixtures("single_thread")

HEIGHTS = range(1, 25)


# ---------------------------------------------------------------------------------- size rules


def _window_sizes(kernel: int, padding: int, ceil_mode: bool) -> dict[int, int]:
    """Output height torch gives for a stride-2 window (max pool), for every input height it accepts."""
    out = {}
    for h in HEIGHTS:
        if h + 2 * padding < kernel:
            continue
        y = F.max_pool2d(torch.zeros(1, 1, h, 1), (kernel, 1), (2, 1), (padding, 0), ceil_mode=ceil_mode)
        out[h] = y.shape[2]
    return out


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("kernel", range(1, 7))
def test_halving_matches_torch_output_sizes(kernel: int, ceil_mode: bool) -> None:
    for padding in range(0, kernel // 2 + 1):  # max_pool2d takes padding <= kernel / 2
        sizes = _window_sizes(kernel, padding, ceil_mode)
        ceil = all(n == math.ceil(h / 2) for h, n in sizes.items())
        floor = all(n == h // 2 for h, n in sizes.items())
        expected = "ceil" if ceil else "floor" if floor else None
        assert rules.halving(kernel, padding, ceil_mode) == expected, (kernel, padding, ceil_mode, sizes)


def test_halving_of_a_strided_conv_matches_torch() -> None:
    for kernel, padding, expected in [(3, 1, "ceil"), (5, 2, "ceil"), (1, 0, "ceil"), (2, 0, "floor"),
                                      (4, 1, "floor"), (3, 0, None), (7, 2, None)]:
        conv = nn.Conv2d(1, 1, kernel, 2, padding)
        sizes = {h: conv(torch.zeros(1, 1, h, h)).shape[2] for h in HEIGHTS if h + 2 * padding >= kernel}
        assert rules.halving(kernel, padding) == expected
        if expected == "ceil":
            assert all(n == math.ceil(h / 2) for h, n in sizes.items())
        elif expected == "floor":
            assert all(n == h // 2 for h, n in sizes.items())


def test_window_out_matches_torch() -> None:
    for kernel in range(1, 6):
        for padding in range(0, kernel // 2 + 1):
            for ceil_mode in (False, True):
                for h, n in _window_sizes(kernel, padding, ceil_mode).items():
                    assert rules.window_out(h, kernel, padding, ceil_mode) == n, (h, kernel, padding, ceil_mode)


def test_size_rule_needs_both_axes_to_agree() -> None:
    assert rules.size_rule((3, 3), (1, 1)) == "ceil"
    assert rules.size_rule((2, 2), (0, 0)) == "floor"
    assert rules.size_rule((3, 2), (1, 0)) is None  # ceil on one axis, floor on the other
    assert rules.size_rule((3, 3), None) is None
    assert rules.size_rule((2, 2), (0, 0), ceil_mode=True) == "ceil"


def test_conv_padding() -> None:
    assert rules.conv_padding(nn.Conv2d(1, 1, 3, padding="valid")) == (0, 0)
    assert rules.conv_padding(nn.Conv2d(1, 1, 3, padding="same")) is None
    assert rules.conv_padding(nn.Conv2d(1, 1, 3, padding=(1, 2))) == (1, 2)
    assert rules.pair(3) == (3, 3) and rules.pair([3, 5]) == (3, 5)


@pytest.mark.parametrize("kernel", range(1, 7))
def test_up_growth_matches_transposed_conv_output_sizes(kernel: int) -> None:
    for padding in range(0, 3):
        for output_padding in (0, 1):
            conv = nn.ConvTranspose2d(1, 1, (kernel, 1), (2, 1), (padding, 0), (output_padding, 0))
            growth = {conv(torch.zeros(1, 1, h, 1)).shape[2] - 2 * h for h in range(4, 10)}
            assert growth == {rules.up_growth(kernel, padding, output_padding)}


@pytest.mark.parametrize("kernel", range(1, 8))
def test_up_kernel_covers_the_inputs_of_one_output_phase(kernel: int) -> None:
    """All-ones input and weights: each output of a stride-2 transposed conv counts its inputs."""
    conv = nn.ConvTranspose2d(1, 1, (kernel, 1), (2, 1), bias=False)
    nn.init.ones_(conv.weight)
    with torch.no_grad():
        taps = int(conv(torch.ones(1, 1, 16, 1)).max())
    assert taps == math.ceil(kernel / 2)
    assert rules.up_kernel(kernel) == 2 * taps - 1  # the odd head kernel reading that many inputs


# ---------------------------------------------------------------------------- module predicates


class _OwnForward(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)


def test_group_and_strided_problems() -> None:
    assert rules.group_problem(nn.Conv2d(8, 8, 3)) is None
    assert rules.group_problem(nn.Conv2d(8, 8, 3, groups=8)).startswith("depthwise conv (groups=8)")
    assert rules.group_problem(nn.Conv2d(8, 8, 3, groups=2)).startswith("grouped conv (groups=2)")
    ok = nn.Conv2d(4, 4, 3, 2, 1)
    assert rules.strided_problem(ok, ok.stride, ok.dilation) is None
    assert rules.strided_problem(ok, (3, 3), (1, 1)) == "stride (3, 3) is not 2"
    assert rules.strided_problem(ok, (2, 2), (2, 2)).startswith("dilation (2, 2)")
    assert "lazy" in rules.strided_problem(nn.LazyConv2d(4, 3, 2), (2, 2), (1, 1))
    assert "own forward" in rules.strided_problem(_OwnForward(4, 4, 3, 2, 1), (2, 2), (1, 1))
    assert rules.strided_problem(nn.MaxPool2d(3, 2, 1), (2, 2), (1, 1)) is None
    assert rules.is_lazy(nn.LazyConv2d(4, 3)) and not rules.is_lazy(ok)


def test_plain_conv_and_doubling() -> None:
    assert rules.plain_conv(nn.Conv2d(4, 8, 3, padding=1))
    assert rules.plain_conv(nn.Conv2d(4, 8, 5, padding="same"))
    assert not rules.plain_conv(nn.Conv2d(4, 8, 3))  # no padding
    assert not rules.plain_conv(nn.Conv2d(4, 8, 3, 2, 1))  # strided
    assert not rules.plain_conv(nn.Conv2d(4, 8, 2, padding=1))  # even kernel
    assert not rules.plain_conv(nn.Conv2d(4, 8, 3, padding=1, groups=4))
    assert not rules.plain_conv(_OwnForward(4, 8, 3, padding=1))
    assert rules.doubling(nn.Upsample(scale_factor=2)) and rules.doubling(nn.Upsample(scale_factor=(2.0, 2.0)))
    assert not rules.doubling(nn.Upsample(scale_factor=(2, 1)))
    assert not rules.doubling(nn.Upsample(scale_factor=3)) and not rules.doubling(nn.Upsample(size=(8, 8)))


class _Block(nn.Module):
    def __init__(self, branch: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, 2, 1)
        self.add_module(branch, nn.Sequential(nn.Conv2d(4, 4, 1, 2)))


class _Stage(nn.Module):  # ConvNeXt-like: a stage-level downsample next to no conv of its own
    def __init__(self) -> None:
        super().__init__()
        self.downsample = nn.Sequential(nn.Conv2d(4, 8, 2, 2))
        self.blocks = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1))


def test_is_shortcut() -> None:
    model = nn.ModuleDict({"a": _Block("downsample"), "b": _Block("shortcut"), "c": _Stage()})
    assert rules.is_shortcut(model, "a.downsample.0") and rules.is_shortcut(model, "b.shortcut.0")
    assert not rules.is_shortcut(model, "a.conv1")
    assert not rules.is_shortcut(model, "c.downsample.0")


# -------------------------------------------------------------------------- down-sampling sites


def test_down_conv_verdicts() -> None:
    conv = nn.Conv2d(3, 8, 3, 2, 1)
    assert rules.down_conv(conv) == Swap("conv", NewLayer(3, 8, 3), seed=conv)
    patchify = nn.Conv2d(4, 8, 2, 2)
    assert rules.down_conv(patchify) == Swap("conv", NewLayer(4, 8, 3, floor=True), seed=patchify)
    assert rules.down_conv(patchify, floor_sizes="skip") == Keep(
        "conv", "gives floor(H/2), not ceil(H/2) (floor_sizes='skip')")
    assert rules.down_conv(nn.Conv2d(3, 8, 3)) is None  # stride 1: no candidate
    assert "neither ceil(H/2) nor floor(H/2)" in rules.down_conv(nn.Conv2d(3, 8, 3, 2)).reason
    assert rules.down_conv(nn.Conv2d(3, 8, (3, 5), 2, (1, 2))).reason == "non-square kernel (3, 5)"
    assert rules.down_conv(nn.Conv2d(8, 8, 3, 2, 1, groups=8)).reason.startswith("depthwise")


def test_down_pool_verdicts() -> None:
    pool, conv = nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1)
    assert rules.down_pool(pool) == Swap("pool", Resampler(up=False, floor=True))
    assert rules.down_pool(pool, conv) == Swap("pool+conv", NewLayer(4, 8, 3, floor=True), absorbs_next=True, seed=conv)
    assert rules.down_pool(pool, conv, fuse=False) == Swap("pool", Resampler(up=False, floor=True))
    assert rules.down_pool(pool, nn.Conv2d(4, 8, 3)) == Swap("pool", Resampler(up=False, floor=True))  # not plain
    assert rules.down_pool(nn.AvgPool2d(3, 2, 1), pooling="layer") == Swap("pool", NewLayer(None, None, 3))
    assert rules.down_pool(pool, conv, pooling="skip").reason.startswith("pooling='skip'")
    assert rules.down_pool(nn.MaxPool2d(2, return_indices=True)).reason == "returns indices (for a MaxUnpool2d)"
    assert rules.down_pool(nn.MaxPool2d(3, 1, 1)) is None
    assert rules.down_pool(nn.MaxPool2d(3, 3)).reason == "stride (3, 3) is not 2"
    assert rules.down_pool(nn.MaxPool2d(2, ceil_mode=True)) == Swap("pool", Resampler(up=False))


# ---------------------------------------------------------------------------- up-sampling sites


def test_up_transposed_verdicts() -> None:
    conv = nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1)
    assert rules.up_transposed(conv) == Swap("transposed conv", NewLayer(8, 4, 3), seed=conv)
    assert rules.up_transposed(nn.ConvTranspose2d(8, 4, 2, 2)).new == NewLayer(8, 4, 1)
    assert rules.up_transposed(nn.ConvTranspose2d(8, 4, 3, 2, 1)).reason.endswith("give 2H-1, not 2H")
    assert rules.up_transposed(nn.ConvTranspose2d(8, 4, 3, 1, 1)) is None


def test_up_pair_and_lone_verdicts() -> None:
    conv, shuffle, up2 = nn.Conv2d(8, 16, 3, padding=1), nn.PixelShuffle(2), nn.Upsample(scale_factor=2)
    assert rules.up_pair(conv, shuffle) == Swap("conv+pixel shuffle", NewLayer(8, 4, 3), absorbs_next=True, seed=conv)
    assert rules.up_pair(conv, up2) == Swap("conv+upsample", NewLayer(8, 16, 3), absorbs_next=True)
    assert rules.up_pair(up2, conv) == Swap("upsample+conv", NewLayer(8, 16, 3), absorbs_next=True)
    assert rules.up_pair(nn.Conv2d(8, 6, 3, padding=1), shuffle) is None  # 6 channels do not shuffle to 2x
    assert rules.up_pair(shuffle, conv) is None
    assert rules.up_lone(nn.PixelShuffle(3)).reason == "upscale factor 3, not 2"
    assert rules.up_lone(shuffle).reason.startswith("not right after a stride-1 conv")
    assert "not a fixed 2x" in rules.up_lone(nn.Upsample(size=(8, 8))).reason
    assert rules.up_lone(up2).reason.startswith("parameter-free, kept")
    assert rules.up_lone(up2, "wavelet") == Swap("upsample", Resampler(up=True))
    assert rules.up_lone(up2, "layer") == Swap("upsample", NewLayer(None, None, 3))
    assert rules.up_lone(conv) is None


# ---------------------------------------------------------------------------------- tree walk


def test_walk_shares_slots_and_skips_wavelet_layers() -> None:
    shared = nn.Conv2d(4, 4, 3, padding=1)
    model = nn.Sequential(shared, nn.ReLU(), shared, WeConv3D(4, 4))
    levels = walk(model)
    parents = [parent for parent, _ in levels]
    assert parents == [model, shared, levels[0][1][1].module]  # the WeConv3D is not entered
    top = levels[0][1]
    assert [s.path for s in top] == ["0", "1", "3"]
    assert top[0].slots == [(model, "0"), (model, "2")]


# ------------------------------------------------------------------------------ layer contract


def test_factory_call_adds_stride_or_upsample() -> None:
    def down(cin, cout, stride, kernel_size, wavelet):
        return nn.Identity()

    def up(cin, cout, *, upsample, kernel_size, wavelet, **options):
        return nn.Identity()

    call = {"kernel_size": 3, "wavelet": "haar"}
    assert factory_call_kwargs(down, call) == {**call, "stride": 2}
    assert factory_call_kwargs(up, call, "subpixel") == {**call, "upsample": "subpixel"}


def test_factory_contract_errors_name_what_is_missing() -> None:
    call = {"kernel_size": 3, "wavelet": "haar", "levels": 1}
    with pytest.raises(TypeError, match=r"does not accept \['levels'\]"):
        factory_call_kwargs(lambda cin, cout, stride, kernel_size, wavelet: None, call)
    with pytest.raises(TypeError, match=r"requires \['width'\]"):
        factory_call_kwargs(lambda cin, cout, width, **kw: None, call)
    with pytest.raises(TypeError, match="first two positional arguments"):
        factory_call_kwargs(lambda cin, **kw: None, call)
    with pytest.raises(TypeError, match="must be an nn.Module class or a callable"):
        factory_call_kwargs("WeConv3D", call)


def test_factory_with_the_old_up_spelling_is_called_the_old_way() -> None:
    def old(cin, cout, stride=1, transposed=False, **kwargs):
        return nn.Identity()

    with pytest.warns(DeprecationWarning, match="names a 'transposed' parameter"):
        got = factory_call_kwargs(old, {"kernel_size": 3, "wavelet": "haar"}, "subpixel")
    assert got == {"kernel_size": 3, "wavelet": "haar", "stride": 2, "transposed": True}


# ------------------------------------------------------------------------------------ finders


def test_finders_pair_siblings_only_in_a_sequential() -> None:
    from wavelayers.rewrite.down import find_down
    from wavelayers.rewrite.up import find_up

    seq = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.Conv2d(8, 8, 3, 2, 1))
    (parent, children), *_ = walk(seq)
    items = find_down(parent, children)
    assert [(i.site.path, i.kind, i.absorbed.path if i.absorbed else None) for i in items] == [
        ("0", "pool+conv", "1"), ("2", "conv", None)]
    assert [i.kind for i in find_down(parent, children, fuse=False)] == ["pool", "conv"]
    holder = nn.ModuleDict({"pool": nn.MaxPool2d(2), "conv": nn.Conv2d(4, 8, 3, padding=1)})
    (parent, children), *_ = walk(holder)
    assert [i.kind for i in find_down(parent, children)] == ["pool"]  # not a Sequential: no fusion

    up = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.PixelShuffle(2))
    (parent, children), *_ = walk(up)
    assert [(i.kind, type(i).__name__) for i in find_up(parent, children)] == [("conv+pixel shuffle", "Plan")]
    assert [(i.kind, type(i).__name__) for i in find_up(parent, children, fuse=False)] == [("pixel shuffle", "Skip")]
