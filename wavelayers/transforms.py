"""Wavelet transforms as ``nn.Module``\\ s (no parameters; operators are cached constants).

Transforms default to Haar; the layers default to the 9/7 wavelet of the papers.

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
from .channel import apply_channel_matrix, channel_matrices, check_channel_split
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


class _WaveletModule(nn.Module):
    def __init__(self, wavelet: str, mode: str) -> None:
        super().__init__()
        self.wavelet = canonical_name(wavelet)
        self.mode = check_mode(mode, self.wavelet)

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet!r}, mode={self.mode!r}"


class DWT1D(_WaveletModule):
    """One-level DWT along ``dim``: ``(..., n, ...) -> (low, high)``, each ``(..., m, ...)``."""

    def __init__(self, wavelet: str = "haar", mode: str = "jpeg2000", dim: int = -1) -> None:
        super().__init__(wavelet, mode)
        self.dim = dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return dwt1d(x, self.wavelet, self.mode, self.dim)


class IDWT1D(_WaveletModule):
    """Inverse of :class:`DWT1D`; pass ``size`` (the original length) to restore odd lengths."""

    def __init__(self, wavelet: str = "haar", mode: str = "jpeg2000", dim: int = -1) -> None:
        super().__init__(wavelet, mode)
        self.dim = dim

    def forward(self, low: Tensor, high: Tensor, size: int | None = None) -> Tensor:
        return idwt1d(low, high, self.wavelet, self.mode, self.dim, size)


class DWT2D(_WaveletModule):
    """Multi-level 2D DWT: ``(N, C, H, W) -> (ll, highs)``.

    ``ll``: ``(N, C, h_J, w_J)``; ``highs[j]``: ``(N, C, 3, h_{j+1}, w_{j+1})`` with the bands
    ``(cH, cV, cD)`` of level ``j + 1`` (finest first). Non-expansive modes give
    ``h_{j+1} = ceil(h_j / 2)``.
    """

    def __init__(self, wavelet: str = "haar", levels: int = 1, mode: str = "jpeg2000") -> None:
        super().__init__(wavelet, mode)
        self.levels = check_positive_int(levels, "levels")

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        return dwt2d(x, self.wavelet, self.levels, self.mode)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, levels={self.levels}"


class IDWT2D(_WaveletModule):
    """Inverse of :class:`DWT2D`: ``(ll, highs, size=(H, W)) -> (N, C, H, W)``."""

    def __init__(self, wavelet: str = "haar", mode: str = "jpeg2000") -> None:
        super().__init__(wavelet, mode)

    def forward(self, ll: Tensor, highs: list[Tensor], size: tuple[int, int] | None = None) -> Tensor:
        return idwt2d(ll, highs, self.wavelet, self.mode, size)


class _ChannelTransform(_WaveletModule):
    packet = False

    def __init__(self, channels: int, wavelet: str, levels: int, mode: str) -> None:
        super().__init__(wavelet, mode)
        self.channels = check_positive_int(channels, "channels")
        self.levels = check_positive_int(levels, "levels")
        check_channel_split(channels, levels, self.mode)

    def _matrix(self, x: Tensor, inverse: bool) -> Tensor:
        check_tensor(x, "x", (2, 3, 4, 5), "(N, C, ...)")
        check_channels(x, self.channels)
        A, S = channel_matrices(self.wavelet, self.mode, self.channels, self.levels, self.packet, x.device, x.dtype)
        return S if inverse else A

    def extra_repr(self) -> str:
        return f"channels={self.channels}, levels={self.levels}, {super().extra_repr()}"


class ChannelDWT(_ChannelTransform):
    """DWT across channels (per pixel): ``(N, C, ...) -> (N, C, ...)``, bands ``[L | H]`` for one
    level, ``[LL | LH | H]`` for two (Mallat). ``C`` must be divisible by ``2**levels``."""

    def __init__(self, channels: int, wavelet: str = "haar", levels: int = 1, mode: str = "jpeg2000") -> None:
        super().__init__(channels, wavelet, levels, mode)

    def forward(self, x: Tensor) -> Tensor:
        return apply_channel_matrix(x, self._matrix(x, inverse=False))


class ChannelIDWT(ChannelDWT):
    """Inverse of :class:`ChannelDWT` with the same arguments."""

    def forward(self, x: Tensor) -> Tensor:
        return apply_channel_matrix(x, self._matrix(x, inverse=True))


class ChannelWaveletPacket(_ChannelTransform):
    """Channel-wise wavelet packet (ChWP): ``levels`` channel levels splitting *every* band, so
    ``2**levels`` equal sub-bands (default 2 levels: ``[LL | LH | HL | HH]``, ``C/4`` each)."""

    packet = True

    def __init__(self, channels: int, wavelet: str = "haar", levels: int = 2, mode: str = "jpeg2000") -> None:
        super().__init__(channels, wavelet, levels, mode)

    def forward(self, x: Tensor) -> Tensor:
        return apply_channel_matrix(x, self._matrix(x, inverse=False))


class ChannelWaveletPacketInverse(ChannelWaveletPacket):
    """Inverse of :class:`ChannelWaveletPacket` with the same arguments."""

    def forward(self, x: Tensor) -> Tensor:
        return apply_channel_matrix(x, self._matrix(x, inverse=True))


class DWT3D(nn.Module):
    """The 3D composite of 3DM-WeConv: a ``channel_levels`` channel DWT, then a ``levels`` spatial
    DWT of every channel. Returns ``(ll, highs)`` as :class:`DWT2D` does; along dim 1 the channels
    are grouped by channel sub-band (``[L | H]`` for one channel level)."""

    def __init__(
        self, channels: int, wavelet: str = "haar", levels: int = 1, channel_levels: int = 1, mode: str = "jpeg2000"
    ) -> None:
        super().__init__()
        self.channel = ChannelDWT(channels, wavelet, channel_levels, mode)
        self.spatial = DWT2D(wavelet, levels, mode)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        return self.spatial(self.channel(x))


class IDWT3D(nn.Module):
    """Inverse of :class:`DWT3D` with the same arguments."""

    def __init__(
        self, channels: int, wavelet: str = "haar", levels: int = 1, channel_levels: int = 1, mode: str = "jpeg2000"
    ) -> None:
        super().__init__()
        self.channel = ChannelIDWT(channels, wavelet, channel_levels, mode)
        self.spatial = IDWT2D(wavelet, mode)

    def forward(self, ll: Tensor, highs: list[Tensor], size: tuple[int, int] | None = None) -> Tensor:
        return self.channel(self.spatial(ll, highs, size))
