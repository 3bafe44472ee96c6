"""Bjontegaard delta rate (BD-rate) and delta PSNR (BD-PSNR) between two R-D curves.

BD-rate (Bjontegaard, VCEG-M33, 2001): interpolate the logarithm of the rate as a function of the
quality (PSNR) for each curve, integrate both over the quality interval the two curves share, and
turn the mean difference of the log rates into a percentage: ``(exp(mean gap) - 1) * 100``. A
negative BD-rate means the test curve needs fewer bits than the anchor for the same quality.
BD-PSNR swaps the axes: quality as a function of log rate, mean difference in dB over the shared
log-rate interval.

Interpolation (``method``):

- ``"pchip"`` (default): piecewise cubic Hermite interpolation (Fritsch-Carlson, monotone,
  :class:`scipy.interpolate.PchipInterpolator`) through the points, integrated exactly; the
  piecewise cubic variant adopted in the JCT-VC common test conditions spreadsheet (JCTVC-L1100).
  Needs >= 2 points.
- ``"cubic"``: the original method, a least-squares cubic polynomial through the points,
  integrated exactly. Needs >= 4 points.

Points are sorted by the interpolation abscissa (quality for BD-rate, rate for BD-PSNR), which must
then be strictly increasing; rates must be positive and every value finite.
"""
from __future__ import annotations

import math

import numpy as np

from .results import curve_points

__all__ = ["bd_rate", "bd_psnr", "bd_rate_from_points", "bd_psnr_from_points", "METHODS"]

METHODS = {"pchip": 2, "cubic": 4}  # method -> minimum number of points


def _as_points(x, y, name: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"{name}: rates and qualities must be 1-D of equal length, got {x.shape} and {y.shape}")
    if len(x) < METHODS[method]:
        raise ValueError(f"{name}: {len(x)} rate point(s); method {method!r} needs at least {METHODS[method]}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"{name}: rates and qualities must be finite")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"{name}: the interpolation abscissae must be distinct, got {x.tolist()}")
    return x, y


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    if method == "pchip":
        from scipy.interpolate import PchipInterpolator

        return float(PchipInterpolator(x, y).integrate(lo, hi))
    antiderivative = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))


def _mean_gap(x_anchor, y_anchor, x_test, y_test, method: str) -> float:
    """Mean of ``y_test(x) - y_anchor(x)`` over the shared range of ``x``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    xa, ya = _as_points(x_anchor, y_anchor, "anchor", method)
    xt, yt = _as_points(x_test, y_test, "test", method)
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if not hi > lo:
        raise ValueError(
            f"the curves do not overlap: anchor spans [{xa[0]:.4g}, {xa[-1]:.4g}], test [{xt[0]:.4g}, {xt[-1]:.4g}]"
        )
    return (_integral(xt, yt, lo, hi, method) - _integral(xa, ya, lo, hi, method)) / (hi - lo)


def _log_rates(rates, name: str) -> np.ndarray:
    rates = np.asarray(rates, dtype=np.float64)
    if not np.all(rates > 0):
        raise ValueError(f"{name}: rates must be positive, got {rates.tolist()}")
    return np.log(rates)


def bd_rate_from_points(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "pchip") -> float:
    """BD-rate in percent of the test curve against the anchor (negative: the test saves bits)."""
    gap = _mean_gap(quality_anchor, _log_rates(rate_anchor, "anchor"), quality_test, _log_rates(rate_test, "test"),
                    method)
    return math.expm1(gap) * 100.0


def bd_psnr_from_points(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "pchip") -> float:
    """BD-PSNR (in the quality's unit, dB for PSNR) of the test curve over the anchor."""
    return _mean_gap(_log_rates(rate_anchor, "anchor"), quality_anchor, _log_rates(rate_test, "test"), quality_test,
                     method)


def _curves(anchor: dict, test: dict, metric: str):
    ra, qa = curve_points(anchor, metric)
    rt, qt = curve_points(test, metric)
    return ra, qa, rt, qt


def bd_rate(anchor: dict, test: dict, metric: str = "psnr-rgb", method: str = "pchip") -> float:
    """BD-rate (%) of CompressAI-format curve ``test`` against ``anchor`` on ``metric`` (``bpp`` as rate)."""
    return bd_rate_from_points(*_curves(anchor, test, metric), method=method)


def bd_psnr(anchor: dict, test: dict, metric: str = "psnr-rgb", method: str = "pchip") -> float:
    """BD-PSNR (BD-``metric``) of CompressAI-format curve ``test`` over ``anchor``."""
    return bd_psnr_from_points(*_curves(anchor, test, metric), method=method)
