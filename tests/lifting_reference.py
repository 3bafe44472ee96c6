"""An independent NumPy reference of the JPEG 2000 Part 1 lifting transforms (Annex F).

Written from the standard's lifting steps with whole-sample symmetric extension; it shares no
code with wavelayers. Low-pass samples sit at even positions, high-pass at odd positions.
Normalisation is the standard's (low-pass DC gain 1), so callers rescale to PyWavelets'.
"""
from __future__ import annotations

import numpy as np

# CDF 9/7 lifting constants (ITU-T T.800 Table F.4).
ALPHA = -1.586134342059924
BETA = -0.052980118572961
GAMMA = 0.882911075530934
DELTA = 0.443506852043971
KAPPA = 1.230174104914001


def _ws(x: np.ndarray, i: int) -> float:
    """x[i] under whole-sample symmetric extension."""
    n = len(x)
    if n == 1:
        return x[0]
    period = 2 * n - 2
    i %= period
    return x[i] if i < n else x[period - i]


def _lift(y: np.ndarray, parity: int, coef: float) -> np.ndarray:
    """y[k] += coef * (y[k-1] + y[k+1]) for every k of the given parity (symmetric extension)."""
    out = y.copy()
    for k in range(parity, len(y), 2):
        out[k] = y[k] + coef * (_ws(y, k - 1) + _ws(y, k + 1))
    return out


def dwt53(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Irreversible-arithmetic (real-valued) 5/3 analysis: (low, high)."""
    y = np.asarray(x, dtype=np.float64)
    if len(y) == 1:
        return y.copy(), np.zeros(0)
    y = _lift(y, 1, -0.5)  # predict: d = x_odd - (x_even_left + x_even_right) / 2
    y = _lift(y, 0, 0.25)  # update:  s = x_even + (d_left + d_right) / 4
    return y[0::2], y[1::2]


def dwt97(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """9/7 analysis with the four lifting steps and the final scaling: (low, high)."""
    y = np.asarray(x, dtype=np.float64)
    if len(y) == 1:
        return y.copy(), np.zeros(0)
    y = _lift(y, 1, ALPHA)
    y = _lift(y, 0, BETA)
    y = _lift(y, 1, GAMMA)
    y = _lift(y, 0, DELTA)
    return y[0::2] / KAPPA, y[1::2] * KAPPA / 2
