"""WeConv2D (WeConvene, ECCV 2024) and WeConv3D (3DM-WeConv, 3DM-WeConvene section III-A).

Data flow of :class:`WeConv3D` (``C = out_channels``)::

    x ─► head conv (stride 1 / 2, or upsample= 2x) ─► act ─► t                        (N, C, H', W')
    t ─► channel DWT (channel_levels) ─► spatial DWT (levels) ─► bands
         coarsest LL band  (N, C, h_J, w_J)      ─► lf conv (lf_kernel x lf_kernel) ─► norm
         detail bands of level j (N, 3C, h_j, w_j) ─► hf conv (hf_kernel x hf_kernel) ─► norm
    bands ─► inverse spatial DWT ─► inverse channel DWT ─► + skip(x) ─► out            (N, C, H', W')

``skip`` is the identity when shapes allow, else a 1x1 conv (stride 2) or a 1x1 sub-pixel conv.

The LL band of every channel group is "low frequency" (``lf_bands='spatial'``, default) or only
that of the lowest channel group (``lf_bands='channel_low'``: the other groups' LL bands take the
high-frequency kernel). One conv spans all channel groups of a band, so it also mixes channel
sub-bands; ``separate_channel_groups=True`` gives each channel group its own conv (a grouped conv
whose groups are exactly the channel groups; within a group the three orientations of a level
share that conv, as they do without it). ``WeConv2D`` is the same block with no channel DWT,
one spatial level and 3x3 kernels on every band.

Arguments follow the library's convention (docs/guide.md, "Arguments"): the channel counts and
the wavelet are positional, everything else keyword-only. Up-sampling has one spelling,
``upsample="subpixel" | "transposed"`` (``stride`` is for down-sampling only); the pre-0.2
``stride=2, transposed=True`` still works for one release with a DeprecationWarning.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import check_channels, check_positive_int, check_tensor, like_input_layout
from .._deprecation import keyword_only_after, warn_deprecated
from ..channel import apply_channel_matrix, channel_matrices, check_channel_split
from ..functional import dwt2d, idwt2d
from ..operators import check_mode
from ..wavelets import canonical_name
from .norm import ActSpec, NormSpec, make_act, make_norm

__all__ = ["WeConv3D", "WeConv2D", "UPSAMPLE"]

UPSAMPLE = (None, "subpixel", "transposed")

_OLD_WECONV3D = (
    "in_channels", "out_channels", "stride", "transposed", "wavelet", "levels", "channel_levels", "lf_kernel",
    "hf_kernel", "norm", "act", "mode", "kernel_size", "lf_bands", "separate_channel_groups", "upsample",
)
_NEW = ("in_channels", "out_channels", "wavelet")


def _odd_kernel(k: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"{name} must be a positive odd integer, got {type(k).__name__} {k!r}")
    if k < 1 or k % 2 == 0:
        raise ValueError(f"{name} must be a positive odd integer, got {k!r}")
    return k


def _legacy_upsampling(init: Callable[..., None]) -> Callable[..., None]:
    """Translate the pre-0.2 ``transposed=`` keyword into ``upsample=`` (with a DeprecationWarning)."""

    @functools.wraps(init)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        if "transposed" in kwargs:
            transposed = kwargs.pop("transposed")
            name = type(self).__name__
            if transposed:
                stride = kwargs.get("stride", 2)
                if stride != 2:
                    raise ValueError(f"transposed=True up-samples by 2 and needs stride=2, got stride={stride}")
                kwargs["stride"] = 1
                kwargs["upsample"] = kwargs.get("upsample") or "subpixel"
                warn_deprecated(
                    f"{name}(stride=2, transposed=True) is deprecated; write {name}(..., "
                    f"upsample={kwargs['upsample']!r}) without stride", stacklevel=4,
                )
            else:
                kwargs["upsample"] = None  # the old upsample= only applied with transposed=True
                warn_deprecated(f"{name}(transposed=False) is deprecated; leave it out (upsample=None is the default)",
                                stacklevel=4)
        return init(self, *args, **kwargs)

    return wrapper


def _preset_init(
    base: type[nn.Module], name: str, old: tuple[str, ...], *, defaults: dict[str, Any], fixed: dict[str, Any]
) -> Callable[..., None]:
    """The ``__init__`` of a preset of ``base``: ``base.__init__`` with the ``fixed`` arguments set (and
    no longer accepted) and other ``defaults``. Its signature, its pre-0.2 positional order (``old``
    without the fixed names) and the ``transposed=`` shim all follow from the base's."""
    base_sig = inspect.signature(base.__init__, eval_str=True)
    sig = base_sig.replace(parameters=[
        p.replace(default=defaults.get(p.name, p.default)) for p in base_sig.parameters.values() if p.name not in fixed
    ])

    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        try:
            bound = sig.bind(self, *args, **kwargs)
        except TypeError as exc:
            given = ", ".join(f"{k}={fixed[k]!r}" for k in sorted(set(fixed) & set(kwargs)))
            hint = f" ({name} fixes {given}; use {base.__name__})" if given else ""
            raise TypeError(f"{name}(): {exc}{hint}") from None
        bound.apply_defaults()
        base.__init__(self, **{k: v for k, v in bound.arguments.items() if k != "self"}, **fixed)

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"  # (the deprecation shim names the class by it)
    return keyword_only_after(_NEW, tuple(n for n in old if n not in fixed), wavelet_slot=2)(
        _legacy_upsampling(__init__)
    )


class WeConv3D(nn.Module):
    """3DM-WeConv: a convolution followed by a residual wavelet-domain refinement.

    Drop-in for ``nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size//2)``
    (``stride=2`` gives ``ceil(H/2)``), or with ``upsample=`` for a 2x up-sampling conv (output
    ``2H x 2W``, I3DM-WeConv).

    Args:
        in_channels, out_channels: channel counts; ``out_channels`` must be divisible by
            ``2**channel_levels``.
        wavelet: wavelet name (default ``"bior4.4"``, the papers' 9/7; see docs/guide.md).
        stride: 1 or 2, down-sampling only.
        upsample: ``None`` (no up-sampling), ``"subpixel"`` (conv to ``4C`` + PixelShuffle head) or
            ``"transposed"`` (``ConvTranspose2d`` head); needs ``stride=1``.
        kernel_size: head conv kernel (odd).
        levels: spatial DWT levels (>= 1). channel_levels: channel DWT levels (>= 0).
        lf_kernel / hf_kernel: conv kernels on the low / high frequency bands (odd).
        lf_bands: 'spatial' or 'channel_low' (see module docstring).
        separate_channel_groups: one conv per channel group (grouped convs) instead of one conv
            over all groups; the three orientations of a level share their group's conv.
        mode: non-expansive boundary mode ('jpeg2000', 'periodization').
        norm: band norm: None (default), 'gdn' (as WeConvene's code), 'igdn', 'batch', 'group',
            'layer', or a callable called as ``norm(channels)`` (an nn.Module class such as
            ``nn.BatchNorm2d``, or ``functools.partial(nn.GroupNorm, 4)``).
        act: head activation: 'leaky_relu' (default), 'relu', 'gelu', 'silu', None, or a callable
            called as ``act()`` (an nn.Module class such as ``nn.ReLU``).
    """

    @keyword_only_after(_NEW, _OLD_WECONV3D, wavelet_slot=2)
    @_legacy_upsampling
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        wavelet: str = "bior4.4",
        *,
        stride: int = 1,
        upsample: str | None = None,
        kernel_size: int = 3,
        levels: int = 2,
        channel_levels: int = 1,
        lf_kernel: int = 3,
        hf_kernel: int = 1,
        lf_bands: str = "spatial",
        separate_channel_groups: bool = False,
        mode: str = "jpeg2000",
        norm: NormSpec = None,
        act: ActSpec = "leaky_relu",
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        if upsample not in UPSAMPLE:
            raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
        if upsample is not None and stride != 1:
            raise ValueError(f"upsample={upsample!r} up-samples by 2 and takes no stride (stride is for "
                             f"down-sampling), got stride={stride}")
        if lf_bands not in ("spatial", "channel_low"):
            raise ValueError(f"lf_bands must be 'spatial' or 'channel_low', got {lf_bands!r}")
        if not isinstance(separate_channel_groups, bool):
            raise TypeError(f"separate_channel_groups must be a bool, got {separate_channel_groups!r}")
        self.stride = stride
        self.upsample = upsample
        self.wavelet = canonical_name(wavelet)
        self.mode = check_mode(mode, self.wavelet)
        self.levels = check_positive_int(levels, "levels")
        self.channel_levels = check_positive_int(channel_levels, "channel_levels", minimum=0)
        if self.channel_levels:
            check_channel_split(out_channels, self.channel_levels, self.mode)
        self.lf_bands = lf_bands
        self.separate_channel_groups = separate_channel_groups
        k = _odd_kernel(kernel_size, "kernel_size")
        lf_k = _odd_kernel(lf_kernel, "lf_kernel")
        hf_k = _odd_kernel(hf_kernel, "hf_kernel")
        C = out_channels
        groups = 2**self.channel_levels if separate_channel_groups else 1

        self.head = self._make_head(in_channels, C, k)
        self.act = make_act(act)
        self.skip = self._make_skip(in_channels, C)

        if lf_bands == "spatial" or self.channel_levels == 0:
            self.lf_conv = nn.Conv2d(C, C, lf_k, padding=lf_k // 2, groups=groups)
            self.ll_hf_conv = None
        else:
            # Lowest channel group's LL gets lf_kernel; the other groups' LL bands get hf_kernel.
            c_low = C >> self.channel_levels
            self.lf_conv = nn.Conv2d(c_low, c_low, lf_k, padding=lf_k // 2)
            self.ll_hf_conv = nn.Conv2d(C - c_low, C - c_low, hf_k, padding=hf_k // 2, groups=max(1, groups - 1))
        self.lf_norm = make_norm(norm, C)
        # Detail bands enter as (N, 3C, h, w), channel-major (channel c, orientation o at 3c + o), so
        # channel group g is the contiguous slice [3gC/G, 3(g+1)C/G): groups=G is one conv per group.
        self.hf_convs = nn.ModuleList(
            nn.Conv2d(3 * C, 3 * C, hf_k, padding=hf_k // 2, groups=groups) for _ in range(self.levels)
        )
        self.hf_norms = nn.ModuleList(make_norm(norm, 3 * C) for _ in range(self.levels))

    @property
    def transposed(self) -> bool:
        """True for an up-sampling layer (the pre-0.2 name; read ``upsample``)."""
        return self.upsample is not None

    def _make_head(self, cin: int, cout: int, k: int) -> nn.Module:
        if self.upsample is None:
            return nn.Conv2d(cin, cout, k, stride=self.stride, padding=k // 2)
        if self.upsample == "transposed":
            return nn.ConvTranspose2d(cin, cout, k, stride=2, padding=k // 2, output_padding=1)
        return nn.Sequential(nn.Conv2d(cin, cout * 4, k, padding=k // 2), nn.PixelShuffle(2))

    def _make_skip(self, cin: int, cout: int) -> nn.Module:
        if self.upsample is not None:
            return nn.Sequential(nn.Conv2d(cin, cout * 4, 1), nn.PixelShuffle(2))
        if cin == cout and self.stride == 1:
            return nn.Identity()
        return nn.Conv2d(cin, cout, 1, stride=self.stride)

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Spatial output size for an input of spatial ``size``."""
        h, w = size
        if self.upsample is not None:
            return 2 * h, 2 * w
        return (h + self.stride - 1) // self.stride, (w + self.stride - 1) // self.stride

    def _channel(self, t: Tensor, inverse: bool) -> Tensor:
        if not self.channel_levels or t.shape[0] == 0:  # (an empty batch stays empty)
            return t
        A, S = channel_matrices(
            self.wavelet, self.mode, self.out_channels, self.channel_levels, False, t.device, t.dtype
        )
        return apply_channel_matrix(t, S if inverse else A)

    def _filter_lf(self, ll: Tensor) -> Tensor:
        if self.ll_hf_conv is None:
            return self.lf_norm(self.lf_conv(ll))
        c_low = self.lf_conv.in_channels
        low, high = ll.split((c_low, ll.shape[1] - c_low), dim=1)  # split: backward is one cat, no zero-fills
        out = torch.cat((self.lf_conv(low), self.ll_hf_conv(high)), dim=1)
        return self.lf_norm(out)

    def wavelet_refine(self, t: Tensor) -> Tensor:
        """The wavelet-domain branch alone: ``(N, C, H, W) -> (N, C, H, W)`` (without residuals)."""
        size = (t.shape[-2], t.shape[-1])
        ll, highs = dwt2d(self._channel(t, inverse=False), self.wavelet, levels=self.levels, mode=self.mode)
        ll = self._filter_lf(ll)
        new_highs = []
        for h, conv, norm in zip(highs, self.hf_convs, self.hf_norms):
            n, c, _, hh, ww = h.shape
            y = norm(conv(h.reshape(n, 3 * c, hh, ww)))
            new_highs.append(y.reshape(n, c, 3, hh, ww))
        return self._channel(idwt2d(ll, new_highs, self.wavelet, mode=self.mode, size=size), inverse=True)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "input", 4, "(N, C, H, W)", nonempty=(1, 2, 3))
        check_channels(x, self.in_channels)
        t = self.act(self.head(x))
        return like_input_layout(self.wavelet_refine(t) + self.skip(x), x)

    def extra_repr(self) -> str:
        resample = f"upsample={self.upsample!r}" if self.upsample else f"stride={self.stride}"
        return (
            f"{self.in_channels}, {self.out_channels}, {self.wavelet!r}, {resample}, mode={self.mode!r}, "
            f"levels={self.levels}, channel_levels={self.channel_levels}, lf_bands={self.lf_bands!r}"
        )

    def describe(self) -> str:
        """One line for reports (the rewriters'): channels, head kernel, stride or ``up2``, wavelet, levels."""
        head = self.head[0] if isinstance(self.head, nn.Sequential) else self.head
        how = "up2" if self.upsample is not None else f"s{self.stride}"
        return (f"{type(self).__name__}({self.in_channels}->{self.out_channels}, k{head.kernel_size[0]}, {how}, "
                f"{self.wavelet}, levels={self.levels}, ch_levels={self.channel_levels})")


class WeConv2D(WeConv3D):
    """WeConv of WeConvene (ECCV 2024): conv -> 1-level 2D DWT -> 3x3 convs on LL and on the three
    detail bands -> IDWT -> residual. The ablation baseline of :class:`WeConv3D`.

    A preset of :class:`WeConv3D`: ``levels=1, channel_levels=0, lf_kernel=3, hf_kernel=3`` are
    fixed (``lf_bands`` and ``separate_channel_groups`` do not apply) and not accepted; the other
    arguments are WeConv3D's, except that ``wavelet`` defaults to ``"haar"`` (WeConvene's WeConv;
    docs/guide.md states the default-wavelet rule).
    """

    __init__ = _preset_init(
        WeConv3D, "WeConv2D", _OLD_WECONV3D, defaults=dict(wavelet="haar"),
        fixed=dict(levels=1, channel_levels=0, lf_kernel=3, hf_kernel=3, lf_bands="spatial",
                   separate_channel_groups=False),
    )
