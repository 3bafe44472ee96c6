"""MIRNet-v2 (Zamir et al., TPAMI 2022) written from its description, with a wavelet switch.

Layout (``C = n_feat``, ``f = chan_factor = 1.5``; three scales of ``C``, ``int(C f)``, ``int(C f^2)``
channels at ``1``, ``1/2`` and ``1/4`` resolution)::

    x (N, 3, H, W) ─► pad to a multiple of 4 ─► conv3x3 ─► RRG(groups=1) ─► RRG(2) ─► RRG(4) ─► RRG(4)
                   ─► conv3x3 ─► + x ─► crop back to (H, W)

    RRG  = n_mrb x MRB ─► conv3x3, plus the RRG input
    MRB  = three streams: top = x, mid = down_mid(x), bot = down_bot(x) (two Downs from the top input);
           twice: RCB on every stream (same RCBs both times), then mid <- SKFF(mid, up(bot)) and
           top <- SKFF(top, up(mid)) (separate Up modules per pass, shared SKFFs); conv1x1(top) + x
    RCB  = conv3x3 ─► LeakyReLU(0.2) ─► conv3x3 (grouped) ─► ContextBlock ─► LeakyReLU, plus the input
    SKFF = softmax-weighted sum of its inputs, weights from a squeeze (GAP, 1x1 conv, 1x1 conv per input)

The re-sampling modules are the ones the paper (3DM-WeConvene, section IV-G 4) replaces:
:class:`Down` (anti-aliasing 2x2 average pool, then a 1x1 conv ``c -> int(c f)``) and :class:`Up`
(a 1x1 conv ``c -> int(c / f)``, then 2x bilinear up-sampling). A wavelet other than ``'none'``
turns each, through :func:`wavelayers.replace_downsampling` / :func:`~wavelayers.replace_upsampling`,
into ``WeConv3D(stride=2)`` / ``WeConv3D(upsample='subpixel')`` with the same channels, installed in
the module's own slot. Registered names: ``mirnet-v2`` (the published size), ``mirnet-v2-small``.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wavelayers import WeConv3D, replace_downsampling, replace_upsampling

from ..toolkit.registry import register_model
from ..toolkit.wavelets import WAVELETS, check_wavelet

__all__ = [
    "MIRNetConfig", "PRESETS", "MIRNetV2", "Down", "Up", "SKFF", "ContextBlock", "RCB", "MRB", "RRG",
    "build_model", "WAVELETS", "MODEL_NAMES",
]
RRG_GROUPS = (1, 2, 4, 4)
MULTIPLE = 4  # two 2x down-samplings: the input must divide by 4


@dataclass(frozen=True)
class MIRNetConfig:
    """Architecture hyper-parameters. ``wavelet='none'`` is the published MIRNet-v2; any other
    name swaps its re-sampling modules for ``WeConv3D`` built with ``wave_kwargs``."""

    n_feat: int = 80
    chan_factor: float = 1.5
    n_mrb: int = 2
    bias: bool = False
    in_channels: int = 3
    out_channels: int = 3
    wavelet: str = "none"
    wave_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, MIRNetConfig] = {
    "full": MIRNetConfig(n_feat=80, n_mrb=2),  # the published real-denoising model (5.86 M params)
    "small": MIRNetConfig(n_feat=16, n_mrb=1),  # smallest size keeping every structural element
}
MODEL_NAMES = {"mirnet-v2": "full", "mirnet-v2-small": "small"}  # registered name -> preset


def _conv(cin: int, cout: int, k: int, bias: bool, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias, groups=groups)


class Down(nn.Sequential):
    """Anti-aliased 2x down-sampling: ``AvgPool2d(2, ceil_mode)`` then 1x1 conv.
    ``(N, cin, H, W) -> (N, cout, ceil(H/2), ceil(W/2))``. A plain ``nn.Sequential`` (pool, conv) so
    that generic rewriters see the pool-then-conv pair."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(OrderedDict(
            pool=nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False),
            proj=nn.Conv2d(in_channels, out_channels, 1, bias=bias),
        ))
        self.in_channels, self.out_channels = in_channels, out_channels


class Up(nn.Sequential):
    """2x up-sampling: 1x1 conv then bilinear interpolation. ``(N, cin, H, W) -> (N, cout, 2H, 2W)``.
    ``align_corners`` follows ``bias`` as in the reference code (False for the published model)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(OrderedDict(
            proj=nn.Conv2d(in_channels, out_channels, 1, bias=bias),
            upsample=nn.Upsample(scale_factor=2, mode="bilinear", align_corners=bias),
        ))
        self.in_channels, self.out_channels = in_channels, out_channels


class SKFF(nn.Module):
    """Selective kernel feature fusion of ``n_inputs`` tensors of shape (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, n_inputs: int = 2, reduction: int = 8, bias: bool = False) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.squeeze = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=bias), nn.LeakyReLU(0.2))
        self.excite = nn.ModuleList(nn.Conv2d(hidden, channels, 1, bias=bias) for _ in range(n_inputs))

    def forward(self, inputs: list[Tensor]) -> Tensor:
        stacked = torch.stack(inputs, dim=1)  # (N, K, C, H, W)
        z = self.squeeze(stacked.sum(dim=1).mean(dim=(2, 3), keepdim=True))
        logits = torch.stack([fc(z) for fc in self.excite], dim=1)  # (N, K, C, 1, 1)
        return (stacked * logits.softmax(dim=1)).sum(dim=1)


class ContextBlock(nn.Module):
    """Global context (GCNet-style): softmax spatial attention pooling, a 1x1 bottleneck-free
    transform, added to every position. (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, bias: bool = False) -> None:
        super().__init__()
        self.attention = nn.Conv2d(channels, 1, 1, bias=bias)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=bias), nn.LeakyReLU(0.2), nn.Conv2d(channels, channels, 1, bias=bias)
        )

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        weights = self.attention(x).reshape(n, 1, h * w).softmax(dim=-1)  # (N, 1, HW)
        context = torch.bmm(x.reshape(n, c, h * w), weights.transpose(1, 2)).reshape(n, c, 1, 1)
        return x + self.transform(context)


class RCB(nn.Module):
    """Residual contextual block (the ``dau_*`` units of MIRNet-v2). (N, C, H, W) -> same."""

    def __init__(self, channels: int, bias: bool = False, groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3, bias, groups), nn.LeakyReLU(0.2), _conv(channels, channels, 3, bias, groups)
        )
        self.context = ContextBlock(channels, bias)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.act(self.context(self.body(x)))


class MRB(nn.Module):
    """Multi-scale residual block over three resolutions. (N, C, H, W) -> same; H, W divisible by 4."""

    def __init__(self, channels: int, chan_factor: float, bias: bool = False, groups: int = 1) -> None:
        super().__init__()
        c_top = channels
        c_mid = int(channels * chan_factor)
        c_bot = int(c_mid * chan_factor)
        self.rcb_top = RCB(c_top, bias, groups)
        self.rcb_mid = RCB(c_mid, bias, groups)
        self.rcb_bot = RCB(c_bot, bias, groups)
        self.down_mid = Down(c_top, c_mid, bias)
        self.down_bot = nn.Sequential(Down(c_top, c_mid, bias), Down(c_mid, c_bot, bias))
        self.up_bot_to_mid = nn.ModuleList(Up(c_bot, c_mid, bias) for _ in range(2))
        self.up_mid_to_top = nn.ModuleList(Up(c_mid, c_top, bias) for _ in range(2))
        self.fuse_mid = SKFF(c_mid, 2, bias=bias)
        self.fuse_top = SKFF(c_top, 2, bias=bias)
        self.conv_out = nn.Conv2d(c_top, c_top, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        top, mid, bot = x, self.down_mid(x), self.down_bot(x)
        for up_bot, up_mid in zip(self.up_bot_to_mid, self.up_mid_to_top):
            top, mid, bot = self.rcb_top(top), self.rcb_mid(mid), self.rcb_bot(bot)
            mid = self.fuse_mid([mid, up_bot(bot)])
            top = self.fuse_top([top, up_mid(mid)])
        return x + self.conv_out(top)


class RRG(nn.Module):
    """Recursive residual group: ``n_mrb`` MRBs then a 3x3 conv, plus the input."""

    def __init__(self, channels: int, chan_factor: float, n_mrb: int, bias: bool = False, groups: int = 1) -> None:
        super().__init__()
        blocks: list[nn.Module] = [MRB(channels, chan_factor, bias, groups) for _ in range(n_mrb)]
        self.body = nn.Sequential(*blocks, _conv(channels, channels, 3, bias))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _check_config(cfg: MIRNetConfig) -> None:
    if cfg.n_mrb < 1:
        raise ValueError(f"n_mrb must be >= 1, got {cfg.n_mrb}")
    c_mid = int(cfg.n_feat * cfg.chan_factor)
    sizes = (cfg.n_feat, c_mid, int(c_mid * cfg.chan_factor))
    bad = [c for c in sizes if c < 1 or c % max(RRG_GROUPS) != 0]
    if bad:
        raise ValueError(
            f"n_feat={cfg.n_feat}, chan_factor={cfg.chan_factor} gives stream widths {sizes}; each must be a "
            f"positive multiple of {max(RRG_GROUPS)} (the conv groups), e.g. n_feat in 16, 32, 48, 64, 80"
        )
    check_wavelet(cfg.wavelet)


class MIRNetV2(nn.Module):
    """MIRNet-v2 for real image denoising: (N, 3, H, W) -> (N, 3, H, W), any H, W >= 1.

    The input is padded (reflect where possible) to a multiple of 4 and the output cropped back.
    Built from a :class:`MIRNetConfig`; ``config.wavelet != 'none'`` gives the 3DM-WeConv variant.
    """

    def __init__(self, config: MIRNetConfig | None = None) -> None:
        super().__init__()
        cfg = config or PRESETS["full"]
        _check_config(cfg)
        self.config = cfg
        self.conv_in = _conv(cfg.in_channels, cfg.n_feat, 3, cfg.bias)
        self.body = nn.Sequential(
            *(RRG(cfg.n_feat, cfg.chan_factor, cfg.n_mrb, cfg.bias, g) for g in RRG_GROUPS)
        )
        self.conv_out = _conv(cfg.n_feat, cfg.out_channels, 3, cfg.bias)
        self.swapped: list[str] = []
        if cfg.wavelet != "none":
            self.swapped = _wavelet_resampling(self, cfg.wavelet, **cfg.wave_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected input (N, {self.config.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
        padded = x
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            padded = F.pad(x, (0, pw, 0, ph), mode=mode)
        out = self.conv_out(self.body(self.conv_in(padded)))
        if self.config.in_channels == self.config.out_channels:
            out = out + padded
        return out[..., :h, :w]


def _weconv(in_channels: int, out_channels: int, *, kernel_size: int, head_kernel: int, **kwargs: Any) -> WeConv3D:
    """The rewriters' layer factory: ``WeConv3D`` with ``head_kernel`` in place of the replaced 1x1 conv's kernel."""
    return WeConv3D(in_channels, out_channels, kernel_size=head_kernel, **kwargs)


def _wavelet_resampling(model: nn.Module, wavelet: str, kernel_size: int = 3, **weconv_kwargs: Any) -> list[str]:
    """Replace every :class:`Down` / :class:`Up` by one ``WeConv3D`` (``kernel_size`` head conv,
    ``weconv_kwargs`` such as ``levels``) in place; return the replaced module names.

    The rewriters see each ``Down`` (pool, conv) and ``Up`` (conv, upsample) as one site and put the
    layer in the first slot and ``nn.Identity`` in the second; the pair is then collapsed into the
    layer, so that the ``state_dict`` names are the module's own (``...down_mid.head.weight``)."""
    layer = partial(_weconv, head_kernel=kernel_size)
    options = dict(layer=layer, wavelet=wavelet, inplace=True, copy_weights=False, **weconv_kwargs)
    _, down = replace_downsampling(model, **options)
    _, up = replace_upsampling(model, **options)
    names = []
    for site in (*down.replaced, *up.replaced):
        name = site.path.rpartition(".")[0]  # the Down / Up holding (layer, Identity)
        parent, _, child = name.rpartition(".")
        pair = model.get_submodule(name)
        if not isinstance(pair, (Down, Up)):
            raise RuntimeError(f"the rewriter replaced {site.path}, which is not inside a Down / Up module")
        setattr(model.get_submodule(parent), child, pair[0])
        names.append(name)
    return names


def build_model(name: str = "mirnet-v2", *, wavelet: str = "none", **overrides: Any) -> MIRNetV2:
    """A :class:`MIRNetV2` of a registered name (:data:`MODEL_NAMES`) with optional
    :class:`MIRNetConfig` overrides (e.g. ``wave_kwargs={'levels': 1}``)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"model must be one of {sorted(MODEL_NAMES)}, got {name!r}")
    base = PRESETS[MODEL_NAMES[name]].to_dict()
    base.update(overrides, wavelet=wavelet)
    return MIRNetV2(MIRNetConfig(**base))


for _name in MODEL_NAMES:
    register_model(_name, partial(build_model, _name), integration=__package__.rpartition(".")[2])
