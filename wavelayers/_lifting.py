"""Lifting-step backend: the non-expansive transforms of Haar, 5/3 and 9/7 as a few shifted adds.

A lifting scheme splits the axis into even samples ``e`` (length ``m = ceil(n/2)``) and odd samples
``o`` (length ``n // 2``), then alternates *predict* steps ``o[k] += c * (e[k] + e[k+1])`` and
*update* steps ``e[k] += c * (o[k-1] + o[k])`` (Haar: ``o[k] += c e[k]``, ``e[k] += c o[k]``), and
scales: low = ``s_lo * e``, high = ``s_hi * o`` (PyWavelets' normalisation). The samples beyond
the ends follow the boundary rule, which carries through every step unchanged:

* ``jpeg2000`` with 5/3, 9/7: whole-sample symmetric (JPEG 2000 Part 1, Annex F). For odd ``n``
  the last high coefficient is the mirror ``high[m-2]`` that the extension implies; synthesis
  ignores it.
* ``periodization``: periodic; odd ``n`` first repeats the last sample (PyWavelets' rule).
* Haar, both modes: no neighbours; odd ``n`` pairs the last sample with itself (half-sample
  mirror), so its high coefficient is 0. ``jpeg2000`` synthesis ignores that coefficient,
  ``periodization`` synthesis uses it (it inverts the ``n + 1`` transform).

Everything is out-of-place tensor arithmetic on slices (``narrow``, ``cat``, ``stack``): autograd gives
exact gradients, and ``torch.compile`` / ``torch.export`` see plain ops with symbolic lengths.
Needs ``n >= 2`` (the operator chooser uses a matrix for shorter axes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LiftingScheme", "SCHEMES", "lifting_supported", "analysis", "synthesis", "analysis2d", "synthesis2d",
           "split_bands"]

_SQRT2 = math.sqrt(2.0)
# CDF 9/7 lifting constants (ITU-T T.800 Table F.4) to more digits than the standard prints, so the
# result agrees with PyWavelets' bior4.4 taps to float64 rounding.
_A97 = -1.58613434205992355842831545133740131985
_B97 = -0.05298011857296141462205141065783100818
_G97 = 0.88291107553093329575586896040264393663
_D97 = 0.44350685204397115079375985430366718211
_K97 = _SQRT2 / 1.14960439886024115979507564219173254178


@dataclass(frozen=True)
class LiftingScheme:
    """Lifting steps ``(parity, coefficient)`` (parity 1: predict odd from even, 0: update even from
    odd), whether steps use two neighbours (5/3, 9/7) or one (Haar), and the output scales."""

    steps: tuple[tuple[int, float], ...]
    two_taps: bool
    low_scale: float
    high_scale: float


SCHEMES: dict[str, LiftingScheme] = {
    "haar": LiftingScheme(((1, -1.0), (0, 0.5)), False, _SQRT2, -1.0 / _SQRT2),
    "bior2.2": LiftingScheme(((1, -0.5), (0, 0.25)), True, _SQRT2, -1.0 / _SQRT2),
    "bior4.4": LiftingScheme(
        ((1, _A97), (0, _B97), (1, _G97), (0, _D97)), True, _SQRT2 / _K97, -_K97 / _SQRT2
    ),
}
LIFTING_MODES = ("jpeg2000", "periodization")


def lifting_supported(wavelet: str, mode: str, n: int) -> bool:
    """Whether the lifting backend implements ``wavelet`` / ``mode`` for an axis of ``n`` samples."""
    return wavelet in SCHEMES and mode in LIFTING_MODES and n >= 2


_HALF = (torch.float16, torch.bfloat16)


def _autocast(*ts: Tensor) -> tuple[Tensor, ...]:
    """Cast as autocast casts a matmul (the matrix backend), so both backends give one dtype."""
    kind = ts[0].device.type
    if ts[0].is_floating_point() and torch.is_autocast_enabled(kind):
        dtype = torch.get_autocast_dtype(kind)
        return tuple(t.to(dtype) for t in ts)
    return ts


def _in_float32(fn):
    """Run ``fn`` in float32 for 16-bit inputs (each lifting step would round to 8 or 11 bits, where
    a matmul accumulates in float32) and cast its result back."""

    def wrapper(*args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        (first,) = _autocast(tensors[0])
        if first.dtype not in _HALF:
            return fn(*args, **kwargs)
        args = tuple(_autocast(a)[0].float() if isinstance(a, Tensor) else a for a in args)
        out = fn(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(t.to(first.dtype) for t in out)
        return out.to(first.dtype)

    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


def _pads_odd(scheme: LiftingScheme, mode: str) -> bool:
    """Odd ``n``: repeat the last sample (periodization, and Haar's half-sample mirror)."""
    return mode == "periodization" or not scheme.two_taps


def _shift(t: Tensor, dim: int, step: int, edge: Tensor) -> Tensor:
    """``t`` shifted by one along ``dim`` (``step=+1``: ``t[k+1]``, ``-1``: ``t[k-1]``), the vacated end
    filled with the length-1 slice ``edge``."""
    length = t.shape[dim]
    if step > 0:
        return torch.cat((t.narrow(dim, 1, length - 1), edge), dim)
    return torch.cat((edge, t.narrow(dim, 0, length - 1)), dim)


def _predict(e: Tensor, o: Tensor, c: float, dim: int, scheme: LiftingScheme, periodic: bool) -> Tensor:
    """``o[k] + c * (e[k] + e[k+1])`` (Haar: ``o[k] + c * e[k]``); ``len(o)`` is ``len(e)`` or one less."""
    p, m = o.shape[dim], e.shape[dim]
    if not scheme.two_taps:
        return torch.add(o, e.narrow(dim, 0, p), alpha=c)
    if p < m:  # odd n, whole-sample symmetric: every e[k+1] exists
        nxt = e.narrow(dim, 1, p)
    else:
        nxt = _shift(e, dim, 1, e.narrow(dim, 0 if periodic else m - 1, 1))
    return torch.add(o, e.narrow(dim, 0, p) + nxt, alpha=c)


def _update(e: Tensor, o: Tensor, c: float, dim: int, scheme: LiftingScheme, periodic: bool) -> Tensor:
    """``e[k] + c * (o[k-1] + o[k])`` (Haar: ``e[k] + c * o[k]``), the missing ``o`` by the boundary rule."""
    p, m = o.shape[dim], e.shape[dim]
    if not scheme.two_taps:
        return torch.add(e, o, alpha=c)
    cur = o if p == m else torch.cat((o, o.narrow(dim, p - 1, 1)), dim)  # odd n: o[m-1] mirrors o[m-2]
    prev = _shift(cur, dim, -1, o.narrow(dim, m - 1 if periodic else 0, 1))
    return torch.add(e, cur + prev, alpha=c)


def _split(x: Tensor, dim: int, scheme: LiftingScheme, mode: str) -> tuple[Tensor, Tensor]:
    n = x.shape[dim]
    e = _every_other(x, dim, 0)
    o = _every_other(x, dim, 1)
    if n % 2 == 1 and _pads_odd(scheme, mode):
        o = torch.cat((o, x.narrow(dim, n - 1, 1)), dim)
    return e, o


def _every_other(x: Tensor, dim: int, start: int) -> Tensor:
    """``x[..., start::2, ...]`` along ``dim`` (a strided view)."""
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, None, 2)
    return x[tuple(index)]


def _lift(e: Tensor, o: Tensor, dim: int, scheme: LiftingScheme, mode: str, inverse: bool) -> tuple[Tensor, Tensor]:
    periodic = mode == "periodization"
    steps = reversed(scheme.steps) if inverse else scheme.steps
    for parity, c in steps:
        c = -c if inverse else c
        if parity == 1:
            o = _predict(e, o, c, dim, scheme, periodic)
        else:
            e = _update(e, o, c, dim, scheme, periodic)
    return e, o


def _mirror_high(o: Tensor, n: int, dim: int, scheme: LiftingScheme, mode: str) -> Tensor:
    """Odd ``n`` without padding (5/3, 9/7 in jpeg2000): append the redundant mirrored coefficient."""
    if n % 2 == 1 and not _pads_odd(scheme, mode):
        return torch.cat((o, o.narrow(dim, o.shape[dim] - 1, 1)), dim)
    return o


@_in_float32
def analysis(x: Tensor, dim: int, wavelet: str, mode: str) -> tuple[Tensor, Tensor]:
    """One-level lifting DWT along ``dim`` (``n >= 2`` samples) -> ``(low, high)``, each ``ceil(n/2)``."""
    scheme = SCHEMES[wavelet]
    (x,) = _autocast(x)
    n = x.shape[dim]
    e, o = _lift(*_split(x, dim, scheme, mode), dim, scheme, mode, inverse=False)
    return e * scheme.low_scale, _mirror_high(o, n, dim, scheme, mode) * scheme.high_scale


def _unsplit(e: Tensor, o: Tensor, n: int, dim: int) -> Tensor:
    """Interleave ``e`` and ``o`` (``len(o)`` is ``len(e)`` or one less) along ``dim``, crop to ``n``."""
    m = e.shape[dim]
    if o.shape[dim] < m:
        o = torch.cat((o, e.narrow(dim, m - 1, 1)), dim)  # a filler, cropped away
    y = torch.stack((e, o), dim + 1 if dim >= 0 else dim)
    shape = list(e.shape)
    shape[dim] = 2 * m
    return y.reshape(shape).narrow(dim, 0, n)


def _synthesis_bands(low: Tensor, high: Tensor, n: int, dim: int, scheme: LiftingScheme, mode: str) -> tuple[Tensor, Tensor]:
    """Undo the scales; drop the coefficient synthesis ignores (odd ``n`` in jpeg2000)."""
    e = low * (1.0 / scheme.low_scale)
    o = high * (1.0 / scheme.high_scale)
    if n % 2 == 1 and mode == "jpeg2000":
        o = o.narrow(dim, 0, o.shape[dim] - 1)
        if not scheme.two_taps:  # Haar: the last pair's odd sample is the mirror, lifted with o = 0
            o = torch.cat((o, torch.zeros_like(e.narrow(dim, 0, 1))), dim)
    return e, o


@_in_float32
def synthesis(low: Tensor, high: Tensor, n: int, dim: int, wavelet: str, mode: str) -> Tensor:
    """Inverse of :func:`analysis`: bands of ``ceil(n/2)`` along ``dim`` -> ``n`` samples."""
    scheme = SCHEMES[wavelet]
    low, high = _autocast(low, high)
    e, o = _lift(*_synthesis_bands(low, high, n, dim, scheme, mode), dim, scheme, mode, inverse=True)
    return _unsplit(e, o, n, dim)


def split_bands(bands: Tensor) -> tuple[Tensor, Tensor]:
    """A band stack ``(..., 4, mh, mw)`` (``[LL, cH, cV, cD]``) -> ``ll (..., mh, mw)``, ``highs (..., 3, mh, mw)``.

    split, not select/narrow: autograd's backward is then one cat instead of a zero-filled
    full-size gradient per band."""
    ll, highs = bands.split((1, 3), dim=-3)
    return ll.squeeze(-3), highs


@_in_float32
def analysis2d(x: Tensor, wavelet: str, mode: str) -> tuple[Tensor, Tensor]:
    """One 2D level on the last two axes -> ``ll (..., mh, mw)``, ``highs (..., 3, mh, mw)`` (``[cH, cV, cD]``)."""
    scheme = SCHEMES[wavelet]
    (x,) = _autocast(x)
    h, w = x.shape[-2], x.shape[-1]
    e, o = _lift(*_split(x, -1, scheme, mode), -1, scheme, mode, inverse=False)
    t = torch.stack((e, _mirror_high(o, w, -1, scheme, mode)), dim=-3)  # (..., 2 [W band], H, mw)
    e, o = _lift(*_split(t, -2, scheme, mode), -2, scheme, mode, inverse=False)
    y = torch.stack((e, _mirror_high(o, h, -2, scheme, mode)), dim=-3)  # (..., 2 [W], 2 [H], mh, mw)
    lo, hi = scheme.low_scale, scheme.high_scale
    scale = torch.tensor([[lo * lo, hi * lo], [lo * hi, hi * hi]], dtype=torch.float64).to(x.dtype)
    y = y * scale.to(x.device)[:, :, None, None]
    return split_bands(y.flatten(-4, -3))


@_in_float32
def synthesis2d(ll: Tensor, highs: Tensor, size: tuple[int, int], wavelet: str, mode: str) -> Tensor:
    """Inverse of :func:`analysis2d` from ``ll`` ``(..., mh, mw)`` and ``highs`` ``(..., 3, mh, mw)``."""
    scheme = SCHEMES[wavelet]
    ll, highs = _autocast(ll, highs)
    h, w = size
    # unbind, not select: autograd's backward is one stack instead of a zero-fill per band
    ch, cv, cd = highs.unbind(-3)
    low_h = torch.stack((ll, cv), dim=-3)  # (..., 2 [W band], mh, mw), H-low
    high_h = torch.stack((ch, cd), dim=-3)  # H-high
    e, o = _synthesis_bands(low_h, high_h, h, -2, scheme, mode)
    e, o = _lift(e, o, -2, scheme, mode, inverse=True)
    cols = _unsplit(e, o, h, -2)  # (..., 2 [W], H, mw)
    e, o = _synthesis_bands(*cols.unbind(-3), w, -1, scheme, mode)
    e, o = _lift(e, o, -1, scheme, mode, inverse=True)
    return _unsplit(e, o, w, -1)
