"""Wavelet filter banks by name.

Filter taps come from PyWavelets (the project's wavelet filter source) as float64 NumPy
arrays. ``cdf53``/``legall53`` and ``cdf97`` are accepted as aliases of PyWavelets'
``bior2.2`` and ``bior4.4`` (the JPEG 2000 reversible 5/3 and irreversible 9/7 pairs).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pywt


def _constant(fn: Callable) -> Callable:
    """Mark ``fn`` for ``torch.compile`` as returning a constant for its (plain, hashable) arguments,
    as ``torch.compiler.assume_constant_result`` does, without importing ``torch._dynamo``."""
    fn._dynamo_marked_constant = True  # the attribute assume_constant_result sets
    return fn


__all__ = ["FilterBank", "filter_bank", "ALIASES"]

ALIASES = {
    "cdf53": "bior2.2",
    "legall53": "bior2.2",
    "5/3": "bior2.2",
    "cdf97": "bior4.4",
    "9/7": "bior4.4",
}


@dataclass(frozen=True)
class FilterBank:
    """Analysis/synthesis filters of a two-channel wavelet filter bank (float64, PyWavelets layout)."""

    name: str
    dec_lo: np.ndarray
    dec_hi: np.ndarray
    rec_lo: np.ndarray
    rec_hi: np.ndarray

    @property
    def length(self) -> int:
        """Common filter length ``L`` (PyWavelets pads the shorter filters with zeros)."""
        return len(self.dec_lo)

    @cached_property  # asked on every transform call (mode checks); the taps never change
    def symmetric_extension(self) -> str | None:
        """Which symmetric extension makes the non-expansive transform exact.

        ``"whole"`` for odd-length symmetric filters (5/3, 9/7: JPEG 2000 Part 1),
        ``"half"`` for even-length symmetric filters (Haar, bior1.3, ...), ``None`` when
        the analysis filters are not symmetric (Daubechies, Symlets, ...).
        """
        lo, hi = _strip(self.dec_lo), _strip(self.dec_hi)
        if not (_is_symmetric(lo) and _is_symmetric(hi, anti=True)):
            return None
        if len(lo) % 2 == 1 and len(hi) % 2 == 1:
            return "whole"
        if len(lo) % 2 == 0 and len(hi) % 2 == 0:
            return "half"
        return None


def _strip(f: np.ndarray) -> np.ndarray:
    nz = np.flatnonzero(np.abs(f) > 1e-12)
    return f[nz[0] : nz[-1] + 1] if len(nz) else f[:0]


def _is_symmetric(f: np.ndarray, anti: bool = False) -> bool:
    if len(f) == 0:
        return False
    if np.allclose(f, f[::-1], atol=1e-10):
        return True
    return anti and np.allclose(f, -f[::-1], atol=1e-10)


def canonical_name(wavelet: str) -> str:
    """Resolve aliases and check that ``wavelet`` names a discrete wavelet PyWavelets knows."""
    if not isinstance(wavelet, str):
        raise TypeError(f"wavelet must be a name (str), got {type(wavelet).__name__}")
    name = ALIASES.get(wavelet.lower(), wavelet.lower())
    if name not in _discrete_names():
        raise ValueError(
            f"unknown wavelet {wavelet!r}: expected 'haar', 'bior2.2' (5/3), 'bior4.4' (9/7), "
            f"an alias in {sorted(ALIASES)} or a discrete wavelet of pywt.wavelist(kind='discrete')"
        )
    return name


@lru_cache(maxsize=None)
def _discrete_names() -> frozenset[str]:
    return frozenset(pywt.wavelist(kind="discrete"))


@lru_cache(maxsize=None)
def filter_bank(wavelet: str) -> FilterBank:
    """The float64 filter bank of ``wavelet`` (a name or alias)."""
    name = canonical_name(wavelet)
    w = pywt.Wavelet(name)
    taps = [np.asarray(f, dtype=np.float64) for f in (w.dec_lo, w.dec_hi, w.rec_lo, w.rec_hi)]
    for t in taps:
        t.setflags(write=False)
    return FilterBank(name, *taps)
