"""Polyphase-filter backend: strided sums over an index-gathered boundary extension.

Analysis of one axis gathers the signal with its boundary extension in one ``index_select``
(``xe[t] = x[ext(t - L/2 + 1)]``) and forms each band as a sum of ``L`` strided slices:
``band[k] = sum_j r[j] xe[2k + j]`` with ``r`` the reversed analysis filter (the matrices' rule
``a[k] = sum_j f[j] x[2k + L/2 - j]``). Synthesis interleaves the bands (``c[2k] = low[k]``,
``c[2k+1] = high[k]``), gathers that sequence with the same extension and forms the even and the
odd outputs as strided sums with the synthesis taps of each parity (``x[i] = sum_p c[p]
F_{p mod 2}[p - i]``, the rows of :func:`wavelayers.operators._synthesis_non_expansive`).

Where it applies (:func:`filter_supported`): ``periodization`` with any wavelet (the extension is
periodic; odd ``n`` first repeats the last sample, PyWavelets' rule), and ``jpeg2000`` with
odd-length symmetric filters (5/3, 9/7, bior2.x, bior4.4, bior6.8, ...), whose whole-sample
symmetric extension of the signal is also the extension of the interleaved bands. ``n >= 2``.

Why it exists: ``torch.compile`` (inductor) turns each strided sum into one loop of affine loads,
which is the cheapest form of the transform this library has measured on a CPU
(``benchmarks/bench_formulations.py``); eagerly every slice is a memory pass, so eager calls use the
matrices. The extension index is computed from ``arange``, so sizes stay symbolic.
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from ._lifting import _autocast, _in_float32, _unsplit, split_bands
from .wavelets import _constant, filter_bank

__all__ = ["filter_supported", "analysis", "synthesis", "analysis2d", "synthesis2d"]

FILTER_MODES = ("jpeg2000", "periodization")
_ZERO = 1e-12


def filter_supported(wavelet: str, mode: str, n: int) -> bool:
    """Whether the filter backend implements ``wavelet`` / ``mode`` for an axis of ``n`` samples."""
    if n < 2 or mode not in FILTER_MODES:
        return False
    return mode == "periodization" or _whole_sample(wavelet)


@_constant
def _whole_sample(wavelet: str) -> bool:
    return filter_bank(wavelet).symmetric_extension == "whole"


@_constant
def _taps(wavelet: str) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], tuple[tuple[float, ...], tuple[float, ...]]]:
    """``((low, high) analysis taps, (even, odd) synthesis taps)`` as plain floats (constants in a graph)."""
    return _taps_cached(wavelet)


@lru_cache(maxsize=64)
def _taps_cached(wavelet: str) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], tuple[tuple[float, ...], tuple[float, ...]]]:
    fb = filter_bank(wavelet)
    L, D = fb.length, fb.length // 2
    analysis_taps = tuple(tuple(float(c) for c in f[::-1]) for f in (fb.dec_lo, fb.dec_hi))
    g = [f[::-1] for f in (fb.rec_lo, fb.rec_hi)]

    def F(parity: int, d: int) -> float:  # F_0[d] = g_0[d + L/2], F_1[d] = g_1[d - 1 + L/2]
        j = d + D - parity
        return float(g[parity][j]) if 0 <= j < L else 0.0

    even = tuple(F((e - D) % 2, e - D) for e in range(2 * D + 1))
    odd = tuple(F((e + 1 - D) % 2, e - D) for e in range(2 * D + 1))
    return analysis_taps, (even, odd)


def _extension(n: int, left: int, right: int, mode: str, device: torch.device) -> Tensor:
    """Indices into ``[0, n)`` of the samples ``-left .. n + right - 1`` under the boundary rule."""
    i = torch.arange(n + left + right, device=device) - left
    if mode == "periodization":
        return torch.remainder(i, n)
    period = 2 * n - 2  # whole-sample symmetric about 0 and n - 1
    i = torch.remainder(i, period)
    return torch.where(i < n, i, period - i)


def _strided_sum(xe: Tensor, dim: int, taps: tuple[float, ...], start: int, count: int) -> Tensor:
    """``sum_j taps[j] * xe[start + j + 2k]`` along ``dim``, ``k < count``."""
    index = [slice(None)] * xe.dim()
    index[dim] = slice(None, None, 2)
    total = None
    for j, c in enumerate(taps):
        if abs(c) <= _ZERO:
            continue
        term = xe.narrow(dim, start + j, 2 * count - 1)[tuple(index)] * c
        total = term if total is None else total + term
    return total


@_in_float32
def analysis(x: Tensor, dim: int, wavelet: str, mode: str) -> tuple[Tensor, Tensor]:
    """One-level DWT along ``dim`` (``n >= 2`` samples) -> ``(low, high)``, each ``ceil(n/2)``."""
    (x,) = _autocast(x)
    dim = dim % x.dim()
    n = x.shape[dim]
    if mode == "periodization" and n % 2 == 1:
        x = torch.cat((x, x.narrow(dim, n - 1, 1)), dim)
        n += 1
    (low_taps, high_taps), _ = _taps(wavelet)
    L = len(low_taps)
    xe = x.index_select(dim, _extension(n, L // 2 - 1, L // 2, mode, x.device))
    m = (n + 1) // 2
    return _strided_sum(xe, dim, low_taps, 0, m), _strided_sum(xe, dim, high_taps, 0, m)


@_in_float32
def synthesis(low: Tensor, high: Tensor, n: int, dim: int, wavelet: str, mode: str) -> Tensor:
    """Inverse of :func:`analysis`: bands of ``ceil(n/2)`` along ``dim`` -> ``n`` samples."""
    low, high = _autocast(low, high)
    dim = dim % low.dim()
    if mode == "periodization" and n % 2 == 1:
        return synthesis(low, high, n + 1, dim, wavelet, mode).narrow(dim, 0, n)
    c = torch.stack((low, high), dim + 1).flatten(dim, dim + 1)  # c[2k] = low[k], c[2k+1] = high[k]
    if n % 2 == 1:
        c = c.narrow(dim, 0, n)  # jpeg2000: the redundant mirrored high coefficient is ignored
    _, (even_taps, odd_taps) = _taps(wavelet)
    D = len(even_taps) // 2
    ce = c.index_select(dim, _extension(n, D, D, mode, c.device))
    even = _strided_sum(ce, dim, even_taps, 0, (n + 1) // 2)
    odd = _strided_sum(ce, dim, odd_taps, 1, n // 2)
    return _unsplit(even, odd, n, dim)


@_in_float32
def analysis2d(x: Tensor, wavelet: str, mode: str) -> tuple[Tensor, Tensor]:
    """One 2D level on the last two axes -> ``ll (..., mh, mw)``, ``highs (..., 3, mh, mw)`` (``[cH, cV, cD]``)."""
    low_w, high_w = analysis(x, -1, wavelet, mode)
    low_h, high_h = analysis(torch.stack((low_w, high_w), dim=-3), -2, wavelet, mode)  # (..., 2 [W band], mh, mw)
    return split_bands(torch.stack((low_h, high_h), dim=-3).flatten(-4, -3))  # index = W band * 2 + H band


@_in_float32
def synthesis2d(ll: Tensor, highs: Tensor, size: tuple[int, int], wavelet: str, mode: str) -> Tensor:
    """Inverse of :func:`analysis2d` from ``ll`` ``(..., mh, mw)`` and ``highs`` ``(..., 3, mh, mw)``."""
    h, w = size
    ch, cv, cd = highs.unbind(-3)
    cols = synthesis(torch.stack((ll, cv), dim=-3), torch.stack((ch, cd), dim=-3), h, -2, wavelet, mode)
    return synthesis(*cols.unbind(-3), w, -1, wavelet, mode)
