"""Wavelet transforms as ``nn.Module``\\ s (no parameters; operators are cached constants).

Arguments follow the library's convention (docs/guide.md, "Arguments"): channel counts and the
wavelet are positional, everything else keyword-only; transforms default to ``"haar"``.
The forward transforms return coefficient containers that remember the input size, so the
inverses are exact for odd sizes without ``size=`` (see :mod:`wavelayers.coeffs`).

==========================  ===================================================================
module                      what it does (input ``(N, C, H, W)`` unless noted)
==========================  ===================================================================
``DWT1D`` / ``IDWT1D``      one level along any axis -> ``(low, high)``
``DWT2D`` / ``IDWT2D``      multi-level spatial DWT -> ``(ll, [highs_1, ..., highs_J])``
``ChannelDWT`` / ``...IDWT``  DWT across channels -> same shape, channels ordered by sub-band
``ChannelWaveletPacket``    ChWP: two channel levels, four equal bands ``[LL|LH|HL|HH]``
``DWT3D`` / ``IDWT3D``      channel DWT, then the spatial DWT of every channel
==========================  ===================================================================
"""
from __future__ import annotations

from torch import Tensor, nn

from ._checks import check_channels, check_positive_int, check_tensor
from ._deprecation import keyword_only_after
from .channel import apply_channel_matrix, channel_matrices, check_channel_split
from .coeffs import WaveletCoeffs1D, WaveletCoeffs2D
from .functional import dwt1d, dwt2d, idwt1d, idwt2d
from .operators import check_mode
from .wavelets import canonical_name

__all__ = [
    "DWT1D",
    "IDWT1D",
    "DWT2D",
    "IDWT2D",
    "ChannelDWT",
    "ChannelIDWT",
    "ChannelWaveletPacket",
    "ChannelWaveletPacketInverse",
    "DWT3D",
    "IDWT3D",
]


def _per_pixel(x: Tensor, M: Tensor) -> Tensor:
    """:func:`apply_channel_matrix`, also for an empty batch (``N = 0``)."""
    return x.clone() if x.shape[0] == 0 else apply_channel_matrix(x, M)


class _WaveletModule(nn.Module):
    def __init__(self, wavelet: str, mode: str) -> None:
        super().__init__()
        self.wavelet = canonical_name(wavelet)
        self.mode = check_mode(mode, self.wavelet)

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet!r}, mode={self.mode!r}"


class DWT1D(_WaveletModule):
    """One-level DWT along ``dim``: ``(..., n, ...) -> (low, high)``, each ``(..., m, ...)``,
    as a :class:`~wavelayers.coeffs.WaveletCoeffs1D` that remembers ``n``."""

    @keyword_only_after(("wavelet",), ("wavelet", "mode", "dim"))
    def __init__(self, wavelet: str = "haar", *, mode: str = "jpeg2000", dim: int = -1) -> None:
        super().__init__(wavelet, mode)
        self.dim = dim

    def forward(self, x: Tensor) -> WaveletCoeffs1D:
        return dwt1d(x, self.wavelet, mode=self.mode, dim=self.dim)


class IDWT1D(_WaveletModule):
    """Inverse of :class:`DWT1D`: ``forward(coeffs)`` with what it returned, or
    ``forward(low, high, size=n)`` for plain tensors (the length is required then)."""

    @keyword_only_after(("wavelet",), ("wavelet", "mode", "dim"))
    def __init__(self, wavelet: str = "haar", *, mode: str = "jpeg2000", dim: int = -1) -> None:
        super().__init__(wavelet, mode)
        self.dim = dim

    @keyword_only_after(("low", "high"), ("low", "high", "size"))
    def forward(self, low: Tensor | WaveletCoeffs1D, high: Tensor | None = None, *, size: int | None = None) -> Tensor:
        if isinstance(low, WaveletCoeffs1D):
            return idwt1d(low, high, self.wavelet, mode=self.mode, size=size)
        return idwt1d(low, high, self.wavelet, mode=self.mode, dim=self.dim, size=size)


class DWT2D(_WaveletModule):
    """Multi-level 2D DWT: ``(N, C, H, W) -> (ll, highs)``, a :class:`~wavelayers.coeffs.WaveletCoeffs2D`.

    ``ll``: ``(N, C, h_J, w_J)``; ``highs[j]``: ``(N, C, 3, h_{j+1}, w_{j+1})`` with the bands
    ``(cH, cV, cD)`` of level ``j + 1`` (finest first). Non-expansive modes give
    ``h_{j+1} = ceil(h_j / 2)``. ``highs`` remembers ``(H, W)``, the wavelet and the mode.
    """

    @keyword_only_after(("wavelet",), ("wavelet", "levels", "mode"))
    def __init__(self, wavelet: str = "haar", *, levels: int = 1, mode: str = "jpeg2000") -> None:
        super().__init__(wavelet, mode)
        self.levels = check_positive_int(levels, "levels")

    def forward(self, x: Tensor) -> WaveletCoeffs2D:
        return dwt2d(x, self.wavelet, levels=self.levels, mode=self.mode)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, levels={self.levels}"


class IDWT2D(_WaveletModule):
    """Inverse of :class:`DWT2D`: ``(ll, highs) -> (N, C, H, W)``, exact for odd sizes when
    ``highs`` is what :class:`DWT2D` returned; bands in a plain list need ``size=(H, W)``.
    Coefficients made with another wavelet or mode are a ValueError."""

    @keyword_only_after(("wavelet",), ("wavelet", "mode"))
    def __init__(self, wavelet: str = "haar", *, mode: str = "jpeg2000") -> None:
        super().__init__(wavelet, mode)

    @keyword_only_after(("ll", "highs"), ("ll", "highs", "size"))
    def forward(
        self, ll: Tensor | WaveletCoeffs2D, highs: list[Tensor] | None = None, *, size: tuple[int, int] | None = None
    ) -> Tensor:
        return idwt2d(ll, highs, self.wavelet, mode=self.mode, size=size)


class _ChannelTransform(_WaveletModule):
    packet = False  # True: every band splits again (wavelet packet); False: only the low band (Mallat)
    inverse = False

    def __init__(self, channels: int, wavelet: str, levels: int, mode: str) -> None:
        super().__init__(wavelet, mode)
        self.channels = check_positive_int(channels, "channels")
        self.levels = check_positive_int(levels, "levels")
        check_channel_split(channels, levels, self.mode)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", (2, 3, 4, 5), "(N, C, ...)")
        check_tensor(x, "x", x.dim(), "(N, C, ...)", nonempty=tuple(range(1, x.dim())))
        check_channels(x, self.channels)
        A, S = channel_matrices(self.wavelet, self.mode, self.channels, self.levels, self.packet, x.device, x.dtype)
        return _per_pixel(x, S if self.inverse else A)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, levels={self.levels}, {super().extra_repr()}"


class ChannelDWT(_ChannelTransform):
    """DWT across channels (per pixel): ``(N, C, ...) -> (N, C, ...)``, bands ``[L | H]`` for one
    level, ``[LL | LH | H]`` for two (Mallat). ``C`` must be divisible by ``2**levels``."""

    @keyword_only_after(("channels", "wavelet"), ("channels", "wavelet", "levels", "mode"))
    def __init__(self, channels: int, wavelet: str = "haar", *, levels: int = 1, mode: str = "jpeg2000") -> None:
        super().__init__(channels, wavelet, levels, mode)


class ChannelIDWT(ChannelDWT):
    """Inverse of :class:`ChannelDWT` with the same arguments."""

    inverse = True


class ChannelWaveletPacket(_ChannelTransform):
    """Channel-wise wavelet packet (ChWP): ``levels`` channel levels splitting *every* band, so
    ``2**levels`` equal sub-bands (default 2 levels: ``[LL | LH | HL | HH]``, ``C/4`` each)."""

    packet = True

    @keyword_only_after(("channels", "wavelet"), ("channels", "wavelet", "levels", "mode"))
    def __init__(self, channels: int, wavelet: str = "haar", *, levels: int = 2, mode: str = "jpeg2000") -> None:
        super().__init__(channels, wavelet, levels, mode)


class ChannelWaveletPacketInverse(ChannelWaveletPacket):
    """Inverse of :class:`ChannelWaveletPacket` with the same arguments."""

    inverse = True


class DWT3D(nn.Module):
    """The 3D composite of 3DM-WeConv: a ``channel_levels`` channel DWT, then a ``levels`` spatial
    DWT of every channel. Returns ``(ll, highs)`` as :class:`DWT2D` does; along dim 1 the channels
    are grouped by channel sub-band (``[L | H]`` for one channel level)."""

    @keyword_only_after(("channels", "wavelet"), ("channels", "wavelet", "levels", "channel_levels", "mode"))
    def __init__(
        self, channels: int, wavelet: str = "haar", *, levels: int = 1, channel_levels: int = 1, mode: str = "jpeg2000"
    ) -> None:
        super().__init__()
        self.channel = ChannelDWT(channels, wavelet, levels=channel_levels, mode=mode)
        self.spatial = DWT2D(wavelet, levels=levels, mode=mode)

    def forward(self, x: Tensor) -> WaveletCoeffs2D:
        return self.spatial(self.channel(x))


class IDWT3D(nn.Module):
    """Inverse of :class:`DWT3D` with the same arguments; ``size=(H, W)`` is needed only for bands
    in a plain list (as for :class:`IDWT2D`)."""

    @keyword_only_after(("channels", "wavelet"), ("channels", "wavelet", "levels", "channel_levels", "mode"))
    def __init__(
        self, channels: int, wavelet: str = "haar", *, levels: int = 1, channel_levels: int = 1, mode: str = "jpeg2000"
    ) -> None:
        super().__init__()
        check_positive_int(levels, "levels")
        self.channel = ChannelIDWT(channels, wavelet, levels=channel_levels, mode=mode)
        self.spatial = IDWT2D(wavelet, mode=mode)

    @keyword_only_after(("ll", "highs"), ("ll", "highs", "size"))
    def forward(
        self, ll: Tensor | WaveletCoeffs2D, highs: list[Tensor] | None = None, *, size: tuple[int, int] | None = None
    ) -> Tensor:
        return self.channel(self.spatial(ll, highs, size=size))
