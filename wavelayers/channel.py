"""Channel-axis wavelet operators: multi-level channel DWT and the channel-wise wavelet packet.

A channel transform of ``C`` channels is one exact ``(C, C)`` matrix (built in float64 from the
1D operators), applied to every pixel as a 1x1 convolution. Output channels are ordered by
sub-band, lowest frequency first:

* ``ChannelDWT(levels=1)``:  ``[L | H]`` (C/2 each);
* ``ChannelDWT(levels=2)``:  ``[LL | LH | H]`` (C/4, C/4, C/2) -- Mallat, only the low band splits;
* ``ChannelWaveletPacket``:   ``[LL | LH | HL | HH]`` (C/4 each) -- both bands split (ChWP).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from ._checks import is_channels_last
from . import _lifting
from .operators import NON_EXPANSIVE_MODES, _CLEAR_HOOKS, LRUCache, _constant, _matrices, lifting_preferred

__all__ = ["channel_matrices", "check_channel_split"]


def check_channel_split(channels: int, levels: int, mode: str) -> None:
    """Raise unless ``channels`` splits into equal sub-bands over ``levels`` channel levels."""
    if mode not in NON_EXPANSIVE_MODES:
        raise ValueError(f"channel transforms need a non-expansive mode {NON_EXPANSIVE_MODES}, got {mode!r}")
    if channels % (2**levels) != 0:
        raise ValueError(
            f"a {levels}-level channel DWT needs a channel count divisible by {2 ** levels}, got {channels}"
        )


def _block_diag(*blocks: np.ndarray) -> np.ndarray:
    n = sum(b.shape[0] for b in blocks)
    m = sum(b.shape[1] for b in blocks)
    out = np.zeros((n, m))
    i = j = 0
    for b in blocks:
        out[i : i + b.shape[0], j : j + b.shape[1]] = b
        i += b.shape[0]
        j += b.shape[1]
    return out


def _axis_matrices(wavelet: str, mode: str, n: int, lifting: bool) -> tuple[np.ndarray, np.ndarray]:
    """The 1D ``(A, S)`` of ``n`` channels, from the backend :func:`~wavelayers.functional.dwt1d` uses
    for that length (``lifting``: lifting steps are preferred where they exist), so a channel
    transform equals ``dwt1d`` along the channel axis to rounding."""
    if not (lifting and _lifting.lifting_supported(wavelet, mode, n)):
        return _matrices(wavelet, mode, n)
    eye = torch.eye(n, dtype=torch.float64)
    A = torch.cat(_lifting.analysis(eye, -1, wavelet, mode), dim=-1).T.numpy()
    m = A.shape[0] // 2
    S = _lifting.synthesis(eye[: 2 * m, :m], eye[: 2 * m, m:], n, -1, wavelet, mode).T.numpy()
    return A, S


@lru_cache(maxsize=256)
def _channel_numpy(
    wavelet: str, mode: str, channels: int, levels: int, packet: bool, lifting: bool
) -> tuple[np.ndarray, np.ndarray]:
    A = np.eye(channels)
    S = np.eye(channels)
    if packet:
        # Every band of the previous level splits: 2**levels equal bands.
        for level in range(levels):
            width = channels >> level
            a, s = _axis_matrices(wavelet, mode, width, lifting)
            count = 2**level
            A = _block_diag(*([a] * count)) @ A
            S = S @ _block_diag(*([s] * count))
    else:
        for level in range(levels):
            width = channels >> level
            a, s = _axis_matrices(wavelet, mode, width, lifting)
            rest = channels - width
            A = _block_diag(a, np.eye(rest)) @ A
            S = S @ _block_diag(s, np.eye(rest))
    return A, S


_CACHE = LRUCache("channel_matrices", 64)
_CLEAR_HOOKS.append(_channel_numpy.cache_clear)


@_constant
def _channel_cached(
    wavelet: str, mode: str, channels: int, levels: int, packet: bool, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    # the backend rule is part of the key: matrices built while compiling (lifting) must not be
    # served to eager calls (matrices), or results would depend on what ran first
    lifting = lifting_preferred()

    def build() -> tuple[Tensor, Tensor]:
        A, S = _channel_numpy(wavelet, mode, channels, levels, packet, lifting)
        return (
            torch.tensor(A, dtype=torch.float64).to(device=device, dtype=dtype),
            torch.tensor(S, dtype=torch.float64).to(device=device, dtype=dtype),
        )

    return _CACHE.get((wavelet, mode, channels, levels, packet, lifting, device, dtype), build)


def channel_matrices(
    wavelet: str, mode: str, channels: int, levels: int, packet: bool, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """``(A, S)`` channel analysis/synthesis matrices ``(C, C)`` with ``S @ A == I``."""
    return _channel_cached(wavelet, mode, int(channels), int(levels), bool(packet), torch.device(device), dtype)


def apply_channel_matrix(x: Tensor, M: Tensor) -> Tensor:
    """``y[:, o] = sum_c M[o, c] x[:, c]`` for ``x`` of shape ``(N, C, ...)``; keeps channels_last."""
    if is_channels_last(x):
        # NHWC storage: a plain matmul over the last (channel) axis of the permuted view.
        return (x.permute(0, 2, 3, 1) @ M.transpose(0, 1)).permute(0, 3, 1, 2)
    shape = x.shape
    y = M @ x.reshape(shape[0], shape[1], -1)
    return y.reshape(shape[0], M.shape[0], *shape[2:])
