"""WeConv2D (WeConvene, ECCV 2024) and WeConv3D (3DM-WeConv, 3DM-WeConvene section III-A).

Data flow of :class:`WeConv3D` (``C = out_channels``)::

    x ─► head conv (stride 1 / 2, or 2x up-sampling) ─► act ─► t                      (N, C, H', W')
    t ─► channel DWT (channel_levels) ─► spatial DWT (levels) ─► bands
         coarsest LL band  (N, C, h_J, w_J)      ─► lf conv (lf_kernel x lf_kernel) ─► norm
         detail bands of level j (N, 3C, h_j, w_j) ─► hf conv (hf_kernel x hf_kernel) ─► norm
    bands ─► inverse spatial DWT ─► inverse channel DWT ─► + skip(x) ─► out            (N, C, H', W')

``skip`` is the identity when shapes allow, else a 1x1 conv (stride 2) or a 1x1 sub-pixel conv.

The LL band of every channel group is "low frequency" (``lf_bands='spatial'``, default) or only
that of the lowest channel group (``lf_bands='channel_low'``: the other groups' LL bands take the
high-frequency kernel). One conv spans all channel groups of a band, so it also mixes channel
sub-bands (``separate_channel_groups=True`` gives each group its own weights). ``WeConv2D`` is
the same block with no channel DWT, one spatial level and 3x3 kernels on every band.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_channels, check_positive_int, check_tensor, like_input_layout
from ..channel import apply_channel_matrix, channel_matrices, check_channel_split
from ..functional import dwt2d, idwt2d
from ..operators import check_mode
from ..wavelets import canonical_name
from .norm import make_act, make_norm

__all__ = ["WeConv3D", "WeConv2D"]


def _odd_kernel(k: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise ValueError(f"{name} must be a positive odd integer, got {k!r}")
    return k


class WeConv3D(nn.Module):
    """3DM-WeConv: a convolution followed by a residual wavelet-domain refinement.

    Drop-in for ``nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size//2)``
    (``stride=2`` gives ``ceil(H/2)``), or with ``transposed=True`` for a 2x up-sampling conv
    (output ``2H x 2W``, I3DM-WeConv).

    Args:
        in_channels, out_channels: channel counts; ``out_channels`` must be divisible by
            ``2**channel_levels``.
        stride: 1 or 2 (for ``transposed=True``: the up-sampling factor, 2).
        transposed: up-sampling form (``upsample='transposed'`` or ``'subpixel'`` head).
        wavelet, mode: wavelet name and boundary mode (non-expansive: 'jpeg2000', 'periodization').
        levels: spatial DWT levels (>= 1). channel_levels: channel DWT levels (>= 0).
        lf_kernel / hf_kernel: conv kernels on the low / high frequency bands (odd).
        lf_bands: 'spatial' or 'channel_low' (see module docstring).
        separate_channel_groups: per channel group weights (grouped convs) instead of one conv.
        norm: band norm (None default; 'gdn' as in WeConvene's code, 'batch', 'group', 'layer'); act: head activation.
        kernel_size: head conv kernel (odd).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        transposed: bool = False,
        wavelet: str = "bior4.4",
        levels: int = 2,
        channel_levels: int = 1,
        lf_kernel: int = 3,
        hf_kernel: int = 1,
        norm: str | None = None,
        act: str | None = "leaky_relu",
        mode: str = "jpeg2000",
        kernel_size: int = 3,
        lf_bands: str = "spatial",
        separate_channel_groups: bool = False,
        upsample: str = "subpixel",
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        if transposed and stride != 2:
            raise ValueError(f"transposed=True up-samples by 2 and needs stride=2, got stride={stride}")
        if lf_bands not in ("spatial", "channel_low"):
            raise ValueError(f"lf_bands must be 'spatial' or 'channel_low', got {lf_bands!r}")
        if upsample not in ("subpixel", "transposed"):
            raise ValueError(f"upsample must be 'subpixel' or 'transposed', got {upsample!r}")
        self.stride = stride
        self.transposed = transposed
        self.wavelet = canonical_name(wavelet)
        self.mode = check_mode(mode, self.wavelet)
        self.levels = check_positive_int(levels, "levels")
        self.channel_levels = check_positive_int(channel_levels, "channel_levels", minimum=0)
        if self.channel_levels:
            check_channel_split(out_channels, self.channel_levels, self.mode)
        self.lf_bands = lf_bands
        k = _odd_kernel(kernel_size, "kernel_size")
        lf_k = _odd_kernel(lf_kernel, "lf_kernel")
        hf_k = _odd_kernel(hf_kernel, "hf_kernel")
        C = out_channels
        groups = 2**self.channel_levels if separate_channel_groups else 1

        self.head = self._make_head(in_channels, C, k, upsample)
        self.act = make_act(act)
        self.skip = self._make_skip(in_channels, C, upsample)

        if lf_bands == "spatial" or self.channel_levels == 0:
            self.lf_conv = nn.Conv2d(C, C, lf_k, padding=lf_k // 2, groups=groups)
            self.ll_hf_conv = None
        else:
            # Lowest channel group's LL gets lf_kernel; the other groups' LL bands get hf_kernel.
            c_low = C >> self.channel_levels
            self.lf_conv = nn.Conv2d(c_low, c_low, lf_k, padding=lf_k // 2)
            self.ll_hf_conv = nn.Conv2d(C - c_low, C - c_low, hf_k, padding=hf_k // 2)
        self.lf_norm = make_norm(norm, C)
        self.hf_convs = nn.ModuleList(
            nn.Conv2d(3 * C, 3 * C, hf_k, padding=hf_k // 2, groups=3 * groups) if groups > 1
            else nn.Conv2d(3 * C, 3 * C, hf_k, padding=hf_k // 2)
            for _ in range(self.levels)
        )
        self.hf_norms = nn.ModuleList(make_norm(norm, 3 * C) for _ in range(self.levels))

    def _make_head(self, cin: int, cout: int, k: int, upsample: str) -> nn.Module:
        if not self.transposed:
            return nn.Conv2d(cin, cout, k, stride=self.stride, padding=k // 2)
        if upsample == "transposed":
            return nn.ConvTranspose2d(cin, cout, k, stride=2, padding=k // 2, output_padding=1)
        return nn.Sequential(nn.Conv2d(cin, cout * 4, k, padding=k // 2), nn.PixelShuffle(2))

    def _make_skip(self, cin: int, cout: int, upsample: str) -> nn.Module:
        if self.transposed:
            return nn.Sequential(nn.Conv2d(cin, cout * 4, 1), nn.PixelShuffle(2))
        if cin == cout and self.stride == 1:
            return nn.Identity()
        return nn.Conv2d(cin, cout, 1, stride=self.stride)

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Spatial output size for an input of spatial ``size``."""
        h, w = size
        if self.transposed:
            return 2 * h, 2 * w
        return (h + self.stride - 1) // self.stride, (w + self.stride - 1) // self.stride

    def _channel(self, t: Tensor, inverse: bool) -> Tensor:
        if not self.channel_levels:
            return t
        A, S = channel_matrices(
            self.wavelet, self.mode, self.out_channels, self.channel_levels, False, t.device, t.dtype
        )
        return apply_channel_matrix(t, S if inverse else A)

    def _filter_lf(self, ll: Tensor) -> Tensor:
        if self.ll_hf_conv is None:
            return self.lf_norm(self.lf_conv(ll))
        c_low = self.lf_conv.in_channels
        out = torch.cat((self.lf_conv(ll[:, :c_low]), self.ll_hf_conv(ll[:, c_low:])), dim=1)
        return self.lf_norm(out)

    def wavelet_refine(self, t: Tensor) -> Tensor:
        """The wavelet-domain branch alone: ``(N, C, H, W) -> (N, C, H, W)`` (without residuals)."""
        size = (t.shape[-2], t.shape[-1])
        ll, highs = dwt2d(self._channel(t, inverse=False), self.wavelet, self.levels, self.mode)
        ll = self._filter_lf(ll)
        new_highs = []
        for h, conv, norm in zip(highs, self.hf_convs, self.hf_norms):
            n, c, _, hh, ww = h.shape
            y = norm(conv(h.reshape(n, 3 * c, hh, ww)))
            new_highs.append(y.reshape(n, c, 3, hh, ww))
        return self._channel(idwt2d(ll, new_highs, self.wavelet, self.mode, size), inverse=True)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "input", 4, "(N, C, H, W)")
        check_channels(x, self.in_channels)
        t = self.act(self.head(x))
        return like_input_layout(self.wavelet_refine(t) + self.skip(x), x)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, stride={self.stride}, transposed={self.transposed}, "
            f"wavelet={self.wavelet!r}, mode={self.mode!r}, levels={self.levels}, "
            f"channel_levels={self.channel_levels}, lf_bands={self.lf_bands!r}"
        )

    def describe(self) -> str:
        """One line for reports (the rewriters'): channels, head kernel, stride or ``up2``, wavelet, levels."""
        head = self.head[0] if isinstance(self.head, nn.Sequential) else self.head
        how = "up2" if self.transposed else f"s{self.stride}"
        return (f"{type(self).__name__}({self.in_channels}->{self.out_channels}, k{head.kernel_size[0]}, {how}, "
                f"{self.wavelet}, levels={self.levels}, ch_levels={self.channel_levels})")


class WeConv2D(WeConv3D):
    """WeConv of WeConvene (ECCV 2024): conv -> 1-level 2D DWT -> 3x3 convs on LL and on the three
    detail bands -> IDWT -> residual. The ablation baseline of :class:`WeConv3D`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        transposed: bool = False,
        wavelet: str = "haar",
        norm: str | None = None,
        act: str | None = "leaky_relu",
        mode: str = "jpeg2000",
        kernel_size: int = 3,
        upsample: str = "subpixel",
    ) -> None:
        super().__init__(
            in_channels, out_channels, stride=stride, transposed=transposed, wavelet=wavelet, levels=1,
            channel_levels=0, lf_kernel=3, hf_kernel=3, norm=norm, act=act, mode=mode,
            kernel_size=kernel_size, upsample=upsample,
        )
