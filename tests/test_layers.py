"""WeConv2D, WeConv3D and ChWDTB: shape contract, exact gradients, independent re-computations,
dtypes and memory formats, torch.compile, state_dict, training, parameter counts, bad input."""
from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import gradcheck
from torch.func import functional_call

from wavelayers import DWT2D, IDWT2D, ChannelDWT, ChannelIDWT, ChWDTB, WeConv2D, WeConv3D

# ---------------------------------------------------------------------------------------------
# helpers


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_seeded(seed), dtype=dtype)


def _build(factory, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return factory()


def _conv_params(cin: int, cout: int, k: int, groups: int = 1) -> int:
    """K^2 * (Cin / groups) * Cout weights + Cout biases."""
    return k * k * (cin // groups) * cout + cout


def _expected_weconv3d_params(
    cin: int, cout: int, *, stride: int = 1, upsample: str | None = None, levels: int = 2, channel_levels: int = 1,
    lf_kernel: int = 3, hf_kernel: int = 1, lf_bands: str = "spatial", separate_channel_groups: bool = False,
    kernel_size: int = 3,
) -> int:
    """The parameter count of WeConv3D (norm=None) from its definition, conv by conv: with
    ``separate_channel_groups`` one conv per channel group (G = 2**channel_levels groups) on every
    band, the three orientations of a group sharing it."""
    groups = 2**channel_levels if separate_channel_groups else 1
    if upsample is None:
        head = _conv_params(cin, cout, kernel_size)
        skip = 0 if (cin == cout and stride == 1) else _conv_params(cin, cout, 1)
    else:
        # sub-pixel: conv to 4*cout then PixelShuffle(2); transposed: one ConvTranspose2d(cin, cout).
        head = _conv_params(cin, 4 * cout, kernel_size) if upsample == "subpixel" else _conv_params(cin, cout, kernel_size)
        skip = _conv_params(cin, 4 * cout, 1)
    if lf_bands == "spatial" or channel_levels == 0:
        low = _conv_params(cout, cout, lf_kernel, groups)
    else:
        c_low = cout >> channel_levels
        low = _conv_params(c_low, c_low, lf_kernel) + _conv_params(cout - c_low, cout - c_low, hf_kernel,
                                                                   max(1, groups - 1))
    high = levels * _conv_params(3 * cout, 3 * cout, hf_kernel, groups)
    return head + skip + low + high


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class PlainResBlock(nn.Module):
    """What a down-sampling WeConv replaces: conv3x3 (stride) -> LeakyReLU -> conv3x3, + 1x1 skip."""

    def __init__(self, cin: int, cout: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.act = nn.LeakyReLU(0.01)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, stride) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x))) + self.skip(x)


def _set_identity(conv: nn.Conv2d) -> None:
    """Make a (possibly grouped) conv with in == out channels the identity: centre tap = 1."""
    with torch.no_grad():
        conv.weight.zero_()
        per_group = conv.in_channels // conv.groups
        k = conv.kernel_size[0] // 2
        for o in range(conv.out_channels):
            conv.weight[o, o % per_group, k, k] = 1.0
        conv.bias.zero_()


def _wavelet_convs(m: WeConv3D) -> list[nn.Conv2d]:
    convs = [m.lf_conv, *m.hf_convs]
    return convs + ([m.ll_hf_conv] if m.ll_hf_conv is not None else [])


SIZES = [(33, 47), (1, 1), (2, 3), (16, 16), (7, 5)]

# ---------------------------------------------------------------------------------------------
# shape contract


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("layer", ["weconv3d", "weconv2d"])
def test_output_shape_matches_conv2d(layer: str, stride: int, size: tuple[int, int]) -> None:
    x = _randn(2, 6, *size)
    ref = nn.Conv2d(6, 8, 3, stride=stride, padding=1)(x)
    if layer == "weconv3d":
        m = WeConv3D(6, 8, stride=stride, levels=2, channel_levels=2)
    else:
        m = WeConv2D(6, 8, stride=stride)
    y = m(x)
    assert y.shape == ref.shape
    assert y.shape[-2:] == (math.ceil(size[0] / stride), math.ceil(size[1] / stride))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("kernel_size", [1, 5])
@pytest.mark.parametrize("stride", [1, 2])
def test_output_shape_matches_conv2d_other_kernels(stride: int, kernel_size: int) -> None:
    x = _randn(1, 4, 9, 6)
    ref = nn.Conv2d(4, 4, kernel_size, stride=stride, padding=kernel_size // 2)(x)
    assert WeConv3D(4, 4, stride=stride, kernel_size=kernel_size)(x).shape == ref.shape


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("upsample", ["subpixel", "transposed"])
@pytest.mark.parametrize("layer", ["weconv3d", "weconv2d"])
def test_transposed_shape_matches_conv_transpose2d(layer: str, upsample: str, size: tuple[int, int]) -> None:
    x = _randn(2, 6, *size)
    ref = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)(x)
    cls = WeConv3D if layer == "weconv3d" else WeConv2D
    m = cls(6, 4, upsample=upsample)
    y = m(x)
    assert y.shape == ref.shape == (2, 4, 2 * size[0], 2 * size[1])
    assert m.output_size(size) == tuple(y.shape[-2:])


@pytest.mark.parametrize("size", [(13, 9), (3, 2), (8, 8), (4, 12), (1, 1), (5, 5), (2, 13)])
@pytest.mark.parametrize("shift", [False, True])
def test_chwdtb_keeps_shape(size: tuple[int, int], shift: bool) -> None:
    m = ChWDTB(8, num_heads=2, window_size=4, shift=shift)
    x = _randn(2, 8, *size)
    y = m(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


# ---------------------------------------------------------------------------------------------
# exact gradients (float64)

GRAD_X = _randn(1, 4, 5, 7, dtype=torch.float64, seed=3)
GRAD_X_SMALL = _randn(1, 4, 3, 5, dtype=torch.float64, seed=3)


@pytest.mark.parametrize("lf_bands", ["spatial", "channel_low"])
@pytest.mark.parametrize("channel_levels", [0, 1, 2])
@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("form", ["s1", "s2", "up"])
def test_weconv3d_gradcheck_input(form: str, levels: int, channel_levels: int, lf_bands: str) -> None:
    stride = 1 if form == "s1" else 2
    up = {"upsample": "subpixel"} if form == "up" else {"stride": stride}
    m = _build(lambda: WeConv3D(4, 4, **up, levels=levels,
                                channel_levels=channel_levels, lf_bands=lf_bands, hf_kernel=3)).double()
    # The full Jacobian (small input) for one representative configuration per form; random
    # projections of it (fast mode, which catches a wrong entry with probability 1) for the rest.
    full = levels == 2 and channel_levels == 1 and lf_bands == "spatial"
    x = (GRAD_X_SMALL if full else GRAD_X).clone().requires_grad_(True)
    assert gradcheck(m, (x,), eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=not full)


@pytest.mark.parametrize("mode", ["jpeg2000", "periodization"])
@pytest.mark.parametrize("norm", [None, "gdn"])
@pytest.mark.parametrize("layer", ["weconv3d-up", "weconv3d-s2", "weconv2d-s2", "weconv2d-up"])
def test_layer_gradcheck_input_and_parameters(layer: str, norm: str | None, mode: str) -> None:
    kind, form = layer.split("-")
    kwargs = dict(upsample="subpixel", norm=norm, mode=mode) if form == "up" else dict(stride=2, norm=norm, mode=mode)
    if kind == "weconv3d":
        m = _build(lambda: WeConv3D(4, 4, levels=2, channel_levels=1, separate_channel_groups=True, **kwargs))
    else:
        m = _build(lambda: WeConv2D(4, 4, wavelet="bior2.2", **kwargs))
    m = m.double()
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in m.parameters())
    x = _randn(1, 4, 3, 5, dtype=torch.float64, seed=4).requires_grad_(True)

    def f(x, *ps):
        return functional_call(m, dict(zip(names, ps)), (x,))

    # fast mode: checks random projections of the full Jacobian (the full one has ~10^6 entries).
    assert gradcheck(f, (x, *params), eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=True)


@pytest.mark.parametrize("size", [(5, 6), (4, 4), (3, 2)])
@pytest.mark.parametrize("shift", [False, True])
def test_chwdtb_gradcheck(shift: bool, size: tuple[int, int]) -> None:
    m = _build(lambda: ChWDTB(4, num_heads=2, window_size=4, shift=shift, mlp_ratio=2.0)).double()
    x = _randn(1, 4, *size, dtype=torch.float64, seed=5).requires_grad_(True)
    assert gradcheck(m, (x,), eps=1e-6, atol=1e-7, rtol=1e-5)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in m.parameters())
    assert gradcheck(lambda x, *ps: functional_call(m, dict(zip(names, ps)), (x,)), (x.detach(), *params),
                     eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=True)


# ---------------------------------------------------------------------------------------------
# WeConv3D: the wavelet branch


@pytest.mark.parametrize("separate_channel_groups", [False, True])
@pytest.mark.parametrize("lf_bands", ["spatial", "channel_low"])
@pytest.mark.parametrize("channel_levels", [0, 1, 2])
@pytest.mark.parametrize("levels", [1, 3])
@pytest.mark.parametrize("wavelet", ["bior4.4", "bior2.2", "haar"])
@pytest.mark.parametrize("mode", ["jpeg2000", "periodization"])
def test_weconv3d_identity_band_convs_give_identity_branch(
    mode: str, wavelet: str, levels: int, channel_levels: int, lf_bands: str, separate_channel_groups: bool
) -> None:
    m = WeConv3D(8, 8, wavelet=wavelet, mode=mode, levels=levels, channel_levels=channel_levels, lf_bands=lf_bands,
                 separate_channel_groups=separate_channel_groups, lf_kernel=3, hf_kernel=1, norm=None)
    for conv in _wavelet_convs(m):
        _set_identity(conv)
    sizes = [(13, 11), (2, 3)] + ([(33, 47)] if channel_levels == 1 else [])
    for size in sizes:
        t = _randn(2, 8, *size, seed=7)
        out = m.wavelet_refine(t)
        assert out.shape == t.shape
        torch.testing.assert_close(out, t, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(16, 12), (15, 9)])
@pytest.mark.parametrize("band", [0, 1, 2])
def test_weconv3d_detail_band_layout_against_pywavelets(band: int, size: tuple[int, int]) -> None:
    """Zero the LL path and keep one detail band of level 1 (hf conv channel ``3*c + band``): the
    branch must equal pywt.idwt2 of exactly that band, in PyWavelets' (cH, cV, cD) order."""
    m = WeConv3D(2, 2, wavelet="bior2.2", mode="periodization", levels=1, channel_levels=0, hf_kernel=1, norm=None)
    with torch.no_grad():
        m.lf_conv.weight.zero_()
        m.lf_conv.bias.zero_()
        conv = m.hf_convs[0]
        conv.weight.zero_()
        conv.bias.zero_()
        for c in range(2):
            conv.weight[3 * c + band, 3 * c + band, 0, 0] = 1.0
    t = _randn(1, 2, *size, dtype=torch.float64, seed=8)
    with torch.no_grad():
        out = m.double().wavelet_refine(t)
    for c in range(2):
        ll, details = pywt.dwt2(t[0, c].numpy(), "bior2.2", mode="periodization")
        keep = tuple(d if i == band else np.zeros_like(d) for i, d in enumerate(details))
        ref = pywt.idwt2((np.zeros_like(ll), keep), "bior2.2", mode="periodization")
        np.testing.assert_allclose(out[0, c].numpy(), ref[: size[0], : size[1]], atol=1e-10)


def _manual_weconv3d(m: WeConv3D, x: torch.Tensor, upsample: str) -> torch.Tensor:
    """WeConv3D forward from public transforms and the module's conv weights (no module call)."""
    C, J, Lc = m.out_channels, m.levels, m.channel_levels
    k = m.head.kernel_size[0] if isinstance(m.head, (nn.Conv2d, nn.ConvTranspose2d)) else m.head[0].kernel_size[0]
    if m.upsample is None:
        t = F.conv2d(x, m.head.weight, m.head.bias, stride=m.stride, padding=k // 2)
    elif upsample == "transposed":
        t = F.conv_transpose2d(x, m.head.weight, m.head.bias, stride=2, padding=k // 2, output_padding=1)
    else:
        t = F.pixel_shuffle(F.conv2d(x, m.head[0].weight, m.head[0].bias, padding=k // 2), 2)
    t = F.leaky_relu(t, 0.01)
    size = tuple(t.shape[-2:])
    if Lc:
        t = ChannelDWT(C, m.wavelet, levels=Lc, mode=m.mode)(t)
    ll, highs = DWT2D(m.wavelet, levels=J, mode=m.mode)(t)

    def conv(z: torch.Tensor, c: nn.Conv2d) -> torch.Tensor:
        return F.conv2d(z, c.weight, c.bias, padding=c.kernel_size[0] // 2, groups=c.groups)

    if m.ll_hf_conv is None:
        ll = conv(ll, m.lf_conv)
    else:
        c_low = C >> Lc
        ll = torch.cat([conv(ll[:, :c_low], m.lf_conv), conv(ll[:, c_low:], m.ll_hf_conv)], dim=1)
    new_highs = []
    for h, c in zip(highs, m.hf_convs):
        n, _, _, hh, ww = h.shape
        new_highs.append(conv(h.reshape(n, 3 * C, hh, ww), c).reshape(n, C, 3, hh, ww))
    y = IDWT2D(m.wavelet, mode=m.mode)(ll, new_highs, size=size)
    if Lc:
        y = ChannelIDWT(C, m.wavelet, levels=Lc, mode=m.mode)(y)
    if m.upsample is not None:
        skip = F.pixel_shuffle(F.conv2d(x, m.skip[0].weight, m.skip[0].bias), 2)
    elif isinstance(m.skip, nn.Identity):
        skip = x
    else:
        skip = F.conv2d(x, m.skip.weight, m.skip.bias, stride=m.stride)
    return y + skip


@pytest.mark.parametrize(
    "cfg",
    [
        dict(cin=8, cout=8, stride=1, levels=2, channel_levels=1, lf_bands="spatial"),
        dict(cin=6, cout=8, stride=2, levels=2, channel_levels=2, lf_bands="channel_low", hf_kernel=3),
        dict(cin=8, cout=4, levels=1, channel_levels=1, upsample="subpixel"),
        dict(cin=8, cout=4, levels=3, channel_levels=0, upsample="transposed"),
        dict(cin=4, cout=8, stride=2, levels=2, channel_levels=1, separate_channel_groups=True, mode="periodization"),
    ],
)
def test_weconv3d_matches_manual_composition(cfg: dict) -> None:
    cfg = dict(cfg)
    cin, cout = cfg.pop("cin"), cfg.pop("cout")
    upsample = cfg.get("upsample", "subpixel")
    m = _build(lambda: WeConv3D(cin, cout, norm=None, **cfg), seed=11).double()
    x = _randn(2, cin, 13, 10, dtype=torch.float64, seed=12)
    torch.testing.assert_close(m(x), _manual_weconv3d(m, x, upsample), atol=1e-10, rtol=0)


def test_weconv2d_is_one_level_3x3_everywhere_without_channel_dwt() -> None:
    m = _build(lambda: WeConv2D(6, 8, stride=2, wavelet="haar"), seed=13).double()
    assert m.levels == 1 and m.channel_levels == 0 and m.wavelet == "haar"
    assert m.lf_conv.kernel_size == (3, 3) and m.hf_convs[0].kernel_size == (3, 3)
    x = _randn(2, 6, 9, 14, dtype=torch.float64, seed=14)
    torch.testing.assert_close(m(x), _manual_weconv3d(m, x, "subpixel"), atol=1e-10, rtol=0)


_WECONV2D_FIXED = ("levels", "channel_levels", "lf_kernel", "hf_kernel", "lf_bands", "separate_channel_groups")


def test_weconv2d_signature_is_weconv3ds_without_the_fixed_arguments() -> None:
    sig2, sig3 = inspect.signature(WeConv2D, eval_str=True), inspect.signature(WeConv3D, eval_str=True)
    expected = [p for name, p in sig3.parameters.items() if name not in _WECONV2D_FIXED]
    assert list(sig2.parameters) == [p.name for p in expected] == [
        "in_channels", "out_channels", "wavelet", "stride", "upsample", "kernel_size", "mode", "norm", "act"
    ]
    for p, q in zip(sig2.parameters.values(), expected):
        assert (p.kind, p.annotation) == (q.kind, q.annotation)
        assert p.default == ("haar" if p.name == "wavelet" else q.default)
    for name in _WECONV2D_FIXED:
        with pytest.raises(TypeError, match=rf"WeConv2D\(\): got an unexpected keyword argument '{name}' "
                                            rf"\(WeConv2D fixes {name}=.*; use WeConv3D\)"):
            WeConv2D(4, 8, **{name: 1})
    with pytest.raises(TypeError, match=r"WeConv2D\(\): got an unexpected keyword argument 'bogus'$"):
        WeConv2D(4, 8, bogus=1)


@pytest.mark.parametrize(
    "kwargs", (dict(stride=2), dict(upsample="transposed", kernel_size=5), dict(mode="periodization"))
)
def test_weconv2d_is_the_weconv3d_preset(kwargs: dict) -> None:
    """Same parameters in the same order, same output as the WeConv3D it presets."""
    m2 = _build(lambda: WeConv2D(4, 8, **kwargs), seed=5)
    m3 = _build(lambda: WeConv3D(4, 8, "haar", levels=1, channel_levels=0, lf_kernel=3, hf_kernel=3, **kwargs), seed=5)
    assert [(k, v.shape) for k, v in m2.state_dict().items()] == [(k, v.shape) for k, v in m3.state_dict().items()]
    assert all(torch.equal(a, b) for a, b in zip(m2.state_dict().values(), m3.state_dict().values()))
    x = _randn(1, 4, 7, 9, seed=6)
    torch.testing.assert_close(m2(x), m3(x), atol=0, rtol=0)


# ---------------------------------------------------------------------------------------------
# ChWDTB: an independent naive implementation


def _naive_window_attention(m: ChWDTB, c: torch.Tensor) -> torch.Tensor:
    """Attention over all tokens of ``c`` (N, H, W, C) with an explicit mask: token p attends to q
    iff both lie in the same (shifted) window of the zero-padded grid and q is a real token."""
    N, H, W, C = c.shape
    ws, heads = m.window_size, m.attn.num_heads
    s = ws // 2 if (m.shift and max(H, W) > ws) else 0
    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    # window id of each real token on the padded grid; s > 0 offsets the windows by s (wrapped
    # tokens form their own group, like Swin's masked cyclic shift).
    group_r = torch.div(rows - s, ws, rounding_mode="floor") if s else rows // ws
    group_c = torch.div(cols - s, ws, rounding_mode="floor") if s else cols // ws
    same = (group_r[:, None] == group_r[None, :]) & (group_c[:, None] == group_c[None, :])
    table = m.attn.relative_position_bias_table
    # Relative position bias: table row (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1) for the offset
    # (dy, dx) = p - q; pairs further apart than a window are masked anyway.
    dy = (rows[:, None] - rows[None, :]).clamp(-ws + 1, ws - 1)
    dx = (cols[:, None] - cols[None, :]).clamp(-ws + 1, ws - 1)
    bias = table[(dy + ws - 1) * (2 * ws - 1) + (dx + ws - 1)].permute(2, 0, 1)  # (heads, T, T)
    tokens = c.reshape(N, H * W, C)
    qkv = m.attn.qkv(tokens).reshape(N, H * W, 3, heads, C // heads)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # (N, heads, T, d)
    scores = q @ k.transpose(-1, -2) / math.sqrt(C // heads) + bias
    scores = scores.masked_fill(~same, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v  # (N, heads, T, d)
    out = out.transpose(1, 2).reshape(N, H * W, C)
    return m.attn.proj(out).reshape(N, H, W, C)


def _manual_chwdtb(m: ChWDTB, x: torch.Tensor) -> torch.Tensor:
    """LN -> channel DWT (A) -> window attention -> channel IDWT (S) -> residual -> LN -> MLP -> residual."""
    C = m.dim
    t = x.permute(0, 2, 3, 1)
    normed = m.norm1(t).permute(0, 3, 1, 2)
    coeffs = ChannelDWT(C, m.wavelet, levels=m.channel_levels, mode=m.mode)(normed).permute(0, 2, 3, 1)
    att = _naive_window_attention(m, coeffs).permute(0, 3, 1, 2)
    t = t + ChannelIDWT(C, m.wavelet, levels=m.channel_levels, mode=m.mode)(att).permute(0, 2, 3, 1)
    t = t + m.mlp(m.norm2(t))
    return t.permute(0, 3, 1, 2)


@pytest.mark.parametrize("size", [(8, 8), (12, 8), (7, 10), (5, 5), (3, 9)])
@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("channel_levels", [1, 2])
def test_chwdtb_matches_naive_implementation(size: tuple[int, int], shift: bool, channel_levels: int) -> None:
    m = _build(lambda: ChWDTB(8, num_heads=2, window_size=4, shift=shift, channel_levels=channel_levels), seed=21)
    with torch.no_grad():  # a non-trivial relative position bias
        m.attn.relative_position_bias_table.normal_(0, 1.0, generator=_seeded(22))
    m = m.double()
    x = _randn(2, 8, *size, dtype=torch.float64, seed=23)
    torch.testing.assert_close(m(x), _manual_chwdtb(m, x), atol=1e-10, rtol=0)


def test_chwdtb_unshifted_windows_are_independent() -> None:
    """shift=False: changing one 4x4 window of the input changes no output outside that window."""
    m = _build(lambda: ChWDTB(8, num_heads=2, window_size=4, shift=False)).double()
    x = _randn(1, 8, 8, 12, dtype=torch.float64, seed=24)
    x2 = x.clone()
    x2[..., 4:8, 4:8] += _randn(1, 8, 4, 4, dtype=torch.float64, seed=25)
    diff = (m(x) - m(x2)).abs().amax(dim=1)[0]
    inside = torch.zeros_like(diff, dtype=torch.bool)
    inside[4:8, 4:8] = True
    assert diff[~inside].max() == 0
    assert diff[inside].min() > 0


# ---------------------------------------------------------------------------------------------
# dtypes, memory format, torch.compile, state_dict


LAYERS = {
    "weconv3d-s2": lambda: WeConv3D(8, 16, stride=2, levels=2, channel_levels=1),
    "weconv3d-gdn": lambda: WeConv3D(8, 8, norm="gdn", lf_bands="channel_low"),
    "weconv3d-up": lambda: WeConv3D(16, 8, upsample="subpixel"),
    "weconv2d-s2": lambda: WeConv2D(8, 16, stride=2),
    "chwdtb": lambda: ChWDTB(16, num_heads=2, window_size=4, shift=True),
}


def _in_channels(m: nn.Module) -> int:
    return m.dim if isinstance(m, ChWDTB) else m.in_channels


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_half_precision_forward(name: str, dtype: torch.dtype) -> None:
    m = _build(LAYERS[name])
    x = _randn(2, _in_channels(m), 13, 9)
    ref = m(x)
    y = m.to(dtype)(x.to(dtype))
    assert y.dtype == dtype and y.shape == ref.shape
    rel = (y.float() - ref).abs().max() / ref.abs().max()
    assert rel < (5e-3 if dtype == torch.float16 else 3e-2), rel


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_channels_last_in_channels_last_out(name: str) -> None:
    m = _build(LAYERS[name])
    x = _randn(2, _in_channels(m), 13, 9)
    y = m(x.contiguous(memory_format=torch.channels_last))
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, m(x), atol=1e-5, rtol=1e-5)


def test_torch_compile_matches_eager() -> None:
    m = _build(lambda: WeConv3D(8, 16, stride=2, levels=2, channel_levels=1))
    x = _randn(2, 8, 13, 9)
    compiled = torch.compile(m)
    torch.testing.assert_close(compiled(x), m(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS) + ["weconv3d-batch"])
def test_state_dict_round_trip_and_no_constant_buffers(name: str, tmp_path) -> None:
    factory = LAYERS.get(name, lambda: WeConv3D(8, 8, norm="batch", channel_levels=2, levels=1))
    m = _build(factory, seed=0).eval()
    x = _randn(2, _in_channels(m), 13, 9)
    path = tmp_path / "layer.pt"
    torch.save(m.state_dict(), path)
    fresh = _build(factory, seed=1).eval()
    assert not torch.equal(fresh(x), m(x))
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(fresh(x), m(x))
    # Only learnable parameters (and BatchNorm statistics) are saved: wavelet operators are constants.
    expected = {n for n, _ in m.named_parameters()}
    expected |= {f"{n}.{b}" for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d)
                 for b in ("running_mean", "running_var", "num_batches_tracked")}
    assert set(m.state_dict()) == expected
    assert all(not isinstance(v, torch.Tensor) or v.dtype != torch.float64 for v in m.state_dict().values())


# ---------------------------------------------------------------------------------------------
# training


@pytest.mark.parametrize("name", ["weconv3d-s2", "weconv3d-up", "weconv2d-s2", "chwdtb"])
def test_loss_falls_on_a_fixed_batch(name: str) -> None:
    """Fit a randomly initialised copy of the layer (the teacher) on one batch with Adam."""
    student, teacher = _build(LAYERS[name], seed=0), _build(LAYERS[name], seed=1)
    x = _randn(2, _in_channels(student), 12, 12, seed=31)
    with torch.no_grad():
        target = teacher(x)
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(student(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.3 * losses[0], losses


# ---------------------------------------------------------------------------------------------
# parameter counts

COUNT_CONFIGS = [
    dict(cin=cin, cout=cout, levels=levels, channel_levels=cl, stride=stride, upsample=up, lf_bands=lfb)
    for (cin, cout), levels, cl, (stride, up), lfb in itertools.product(
        [(16, 16), (16, 32), (32, 16), (128, 128)], [1, 2, 3], [0, 1, 2], [(1, None), (2, None), (1, "subpixel")],
        ["spatial", "channel_low"],
    )
] + [
    dict(cin=16, cout=32, levels=2, channel_levels=cl, stride=stride, upsample=up, lf_bands=lfb,
         separate_channel_groups=True)
    for cl, (stride, up), lfb in itertools.product([1, 2], [(2, None), (1, "subpixel"), (1, "transposed")],
                                                   ["spatial", "channel_low"])
]


@pytest.mark.parametrize("cfg", COUNT_CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_one_by_one_high_bands_are_smaller_and_counts_match_formula(cfg: dict) -> None:
    cfg = dict(cfg)
    cin, cout = cfg.pop("cin"), cfg.pop("cout")
    counts = {}
    for hf in (1, 3):
        m = WeConv3D(cin, cout, hf_kernel=hf, norm=None, **cfg)
        counts[hf] = _count(m)
        assert counts[hf] == _expected_weconv3d_params(cin, cout, hf_kernel=hf, **cfg)
        for sub in m.modules():  # every conv: K^2 * Cin/groups * Cout + Cout
            if isinstance(sub, nn.Conv2d):
                k = sub.kernel_size[0]
                assert _count(sub) == _conv_params(sub.in_channels, sub.out_channels, k, sub.groups)
    assert counts[1] < counts[3]


def test_parameter_counts_128_layer_against_plain_block() -> None:
    """The figures quoted in docs/benchmarks.md (128 -> 128, stride 2, 2 levels, 1 channel level)."""
    hf1 = _count(WeConv3D(128, 128, stride=2, hf_kernel=1))
    hf3 = _count(WeConv3D(128, 128, stride=2, hf_kernel=3))
    plain = _count(PlainResBlock(128, 128, stride=2))
    weconv2d = _count(WeConv2D(128, 128, stride=2))
    assert hf1 == 607_360 and hf3 == 2_966_656
    assert plain == 2 * _conv_params(128, 128, 3) + _conv_params(128, 128, 1) == 311_680
    assert weconv2d == 2 * _conv_params(128, 128, 3) + _conv_params(384, 384, 3) + _conv_params(128, 128, 1)
    assert hf1 / hf3 == pytest.approx(0.2047, abs=1e-4)


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "factory, x, exc, message",
    [
        (lambda: WeConv3D(4, 8), torch.zeros(4, 5, 5), ValueError, r"\(N, C, H, W\).*3-D"),
        (lambda: WeConv3D(4, 8), torch.zeros(1, 1, 4, 5, 5), ValueError, r"\(N, C, H, W\).*5-D"),
        (lambda: WeConv3D(4, 8), torch.zeros(1, 3, 5, 5), ValueError, r"4 channels.*got 3"),
        (lambda: WeConv3D(4, 8), torch.zeros(1, 4, 5, 5, dtype=torch.int64), TypeError, r"floating-point.*int64"),
        (lambda: WeConv3D(4, 8), [[1.0]], TypeError, r"torch.Tensor.*list"),
        (lambda: WeConv2D(4, 8), torch.zeros(1, 5, 5, 5), ValueError, r"4 channels.*got 5"),
        (lambda: ChWDTB(8, num_heads=2), torch.zeros(1, 4, 5, 5), ValueError, r"8 channels.*got 4"),
        (lambda: ChWDTB(8, num_heads=2), torch.zeros(8, 5, 5), ValueError, r"\(N, C, H, W\).*3-D"),
        (lambda: ChWDTB(8, num_heads=2), torch.zeros(1, 8, 5, 5, dtype=torch.uint8), TypeError, r"floating-point"),
    ],
)
def test_bad_input_raises(factory, x, exc, message: str) -> None:
    with pytest.raises(exc, match=message):
        factory()(x)


@pytest.mark.parametrize(
    "factory, exc, message",
    [
        (lambda: WeConv3D(4, 6, channel_levels=2), ValueError, r"divisible by 4, got 6"),
        (lambda: WeConv3D(4, 5, channel_levels=1), ValueError, r"divisible by 2, got 5"),
        (lambda: WeConv3D(4, 8, kernel_size=2), ValueError, r"kernel_size must be a positive odd integer, got 2"),
        (lambda: WeConv3D(4, 8, lf_kernel=4), ValueError, r"lf_kernel .* odd .* got 4"),
        (lambda: WeConv3D(4, 8, hf_kernel=0), ValueError, r"hf_kernel .* odd .* got 0"),
        (lambda: WeConv3D(4, 8, stride=3), ValueError, r"stride must be 1 or 2, got 3"),
        (lambda: WeConv3D(4, 8, upsample="subpixel", stride=2), ValueError, r"takes no stride .* got stride=2"),
        (lambda: WeConv2D(4, 8, upsample="transposed", stride=2), ValueError, r"takes no stride .* got stride=2"),
        (lambda: WeConv3D(4, 8, levels=0), ValueError, r"levels must be an integer >= 1, got 0"),
        (lambda: WeConv3D(4, 8, channel_levels=-1), ValueError, r"channel_levels must be an integer >= 0, got -1"),
        (lambda: WeConv3D(4, 8, wavelet="nope"), ValueError, r"nope"),
        (lambda: WeConv3D(4, 8, mode="wrap"), ValueError, r"unknown boundary mode 'wrap'"),
        (lambda: WeConv3D(4, 8, mode="symmetric"), ValueError, r"non-expansive mode"),
        (lambda: WeConv3D(4, 8, norm="weird"), ValueError, r"unknown norm 'weird'"),
        (lambda: WeConv3D(4, 8, act="weird"), ValueError, r"unknown activation 'weird'"),
        (lambda: WeConv3D(4, 8, lf_bands="all"), ValueError, r"lf_bands must be .* got 'all'"),
        (lambda: WeConv3D(4, 8, upsample="nearest"), ValueError, r"upsample must be one of .* got 'nearest'"),
        (lambda: ChWDTB(10, num_heads=4), ValueError, r"divisible by num_heads, got dim=10, num_heads=4"),
        (lambda: ChWDTB(6, num_heads=2, channel_levels=2), ValueError, r"divisible by 4, got 6"),
        (lambda: ChWDTB(8, num_heads=2, window_size=0), ValueError, r"window_size must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_raise(factory, exc, message: str) -> None:
    with pytest.raises(exc, match=message):
        factory()


# ---------------------------------------------------------------------------------------------
# re-samplers at odd sizes (every wavelet and non-expansive mode)


RESAMPLE_CASES = [(w, m) for w in ("haar", "bior2.2", "bior4.4") for m in ("jpeg2000", "periodization")]


@pytest.mark.parametrize(("wavelet", "mode"), RESAMPLE_CASES + [("db2", "periodization")])
def test_resamplers_at_odd_sizes_equal_the_transforms(wavelet: str, mode: str) -> None:
    from wavelayers import WaveletDownsample, WaveletUpsample, dwt2d, idwt2d

    down = WaveletDownsample(wavelet=wavelet, mode=mode)
    up = WaveletUpsample(wavelet=wavelet, mode=mode)
    for H, W in [(7, 9), (1, 5), (13, 1), (8, 11)]:
        x = _randn(2, 3, H, W, dtype=torch.float64)
        ll = dwt2d(x, wavelet, mode=mode).ll
        y = down(x)
        assert y.shape == (2, 3, (H + 1) // 2, (W + 1) // 2)
        torch.testing.assert_close(y, ll / 2, atol=1e-12, rtol=0)
        zeros = [torch.zeros(2, 3, 3, *y.shape[-2:], dtype=torch.float64)]
        for size in [(2 * y.shape[-2], 2 * y.shape[-1]), (H, W)]:  # default 2h x 2w, or the odd size back
            z = up(y, size=size) if size == (H, W) else up(y)
            assert z.shape == (2, 3, *size)
            torch.testing.assert_close(z, idwt2d(2 * y, zeros, wavelet, mode=mode, size=size), atol=1e-12, rtol=0)
        # constants survive the odd-size round trip
        c = torch.full((1, 1, H, W), 3.0, dtype=torch.float64)
        torch.testing.assert_close(up(down(c), size=(H, W)), c, atol=1e-9, rtol=0)
        with pytest.raises(ValueError, match=r"size must be the \(H', W'\) whose down-sampling gives"):
            up(y, size=(H + 2, W))


# ---------------------------------------------------------------------------------------------
# separate_channel_groups: one conv per channel group (issue 14, item 2)


@pytest.mark.parametrize("channel_levels", [1, 2])
@pytest.mark.parametrize("level", [0, 1])
def test_separate_channel_groups_is_one_conv_per_channel_group(channel_levels: int, level: int) -> None:
    """Perturb one detail coefficient of channel group g (built with the public DWT3D/IDWT3D, not
    the layer): the filtered detail bands change in every channel and orientation of group g at
    that pixel (one conv per group, orientations sharing it) and nowhere else."""
    from wavelayers import DWT3D, IDWT3D

    C, G = 8, 2**channel_levels
    per_group = C // G
    m = _build(lambda: WeConv3D(C, C, levels=2, channel_levels=channel_levels, separate_channel_groups=True),
               seed=21).double()
    assert [conv.groups for conv in m.hf_convs] == [G, G] and m.lf_conv.groups == G
    dwt = DWT3D(C, m.wavelet, levels=2, channel_levels=channel_levels, mode=m.mode)
    idwt = IDWT3D(C, m.wavelet, levels=2, channel_levels=channel_levels, mode=m.mode)
    t = _randn(1, C, 8, 8, dtype=torch.float64, seed=22)
    base = dwt(m.wavelet_refine(t))
    for g in range(G):
        for orientation in range(3):
            c = g * per_group + (orientation % per_group)
            ll, highs = dwt(t)
            highs[level] = highs[level].clone()
            highs[level][0, c, orientation, 1, 1] += 1.0
            out = dwt(m.wavelet_refine(idwt(ll, highs)))
            torch.testing.assert_close(out.ll, base.ll, atol=1e-10, rtol=0)
            for j in range(2):
                diff = (out.highs[j] - base.highs[j]).abs()
                if j != level:
                    assert diff.max() < 1e-10
                    continue
                inside = diff[:, g * per_group:(g + 1) * per_group]
                assert (inside[0, :, :, 1, 1] > 1e-8).all(), "every channel/orientation of group g responds"
                inside = inside.clone()
                inside[0, :, :, 1, 1] = 0
                assert inside.max() < 1e-10, "1x1 kernel: only that pixel"
                outside = torch.cat([diff[:, : g * per_group], diff[:, (g + 1) * per_group:]], dim=1)
                assert outside.max() < 1e-10, f"group {g}'s perturbation leaked into another channel group"


def test_separate_channel_groups_low_band_is_one_conv_per_group() -> None:
    from wavelayers import DWT3D, IDWT3D

    m = _build(lambda: WeConv3D(8, 8, levels=1, channel_levels=1, separate_channel_groups=True), seed=23).double()
    dwt, idwt = DWT3D(8, m.wavelet, levels=1, channel_levels=1), IDWT3D(8, m.wavelet, levels=1, channel_levels=1)
    t = _randn(1, 8, 8, 8, dtype=torch.float64, seed=24)
    base = dwt(m.wavelet_refine(t))
    ll, highs = dwt(t)
    ll = ll.clone()
    ll[0, 5, 2, 2] += 1.0  # channel group 1 (channels 4..7)
    out = dwt(m.wavelet_refine(idwt(ll, highs)))
    diff = (out.ll - base.ll).abs()
    assert diff[:, :4].max() < 1e-10 and (diff[0, 4:, 2, 2] > 1e-8).all()
