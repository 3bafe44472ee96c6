"""The wavelets the integrations offer on their command lines: ``'none'`` is the published
baseline, the others put 3DM-WeConv layers (``WeConv3D``) at the re-sampling sites."""
from __future__ import annotations

__all__ = ["WAVELETS", "check_wavelet"]

WAVELETS = ("none", "haar", "bior2.2", "bior4.4")


def check_wavelet(wavelet: str) -> str:
    """``wavelet`` if it is one of :data:`WAVELETS`, else ValueError."""
    if wavelet not in WAVELETS:
        raise ValueError(f"wavelet must be one of {WAVELETS}, got {wavelet!r}")
    return wavelet
