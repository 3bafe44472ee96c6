"""Variable rate by gain units (Cui et al., "Asymmetric gained deep image compression with continuous
rate adaptation", CVPR 2021).

One model codes at every rate point: per quality index ``s`` (1..6, the λ table of :data:`LAMBDAS`)
it learns four channel vectors, a gain ``m_s`` applied to ``y`` before quantisation and an inverse
gain ``m'_s`` applied to ``ŷ`` before ``g_s``, and the same pair ``(h_s, h'_s)`` on the hyper latent
``z`` / ``ẑ``. A continuous quality ``q`` in [1, 6] with ``s = floor(q)``, ``l = q - s`` uses the
exponential (geometric) interpolation of the paper, ``m_q = m_s^(1-l) * m_{s+1}^l``, for each of the
four vectors. The vectors are stored as logarithms (so they stay positive and the geometric
interpolation is a linear one of the stored values), initialised at 0 (every gain 1).

Qualities travel in the ``.wlic`` header with a resolution of 1 / :data:`QUALITY_SCALE`
(:func:`quantise_quality`), so the encoder and the decoder compute the gains of the very same ``q``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..compression.container import QUALITY_SCALE  # fractional qualities: multiples of 1 / QUALITY_SCALE

__all__ = ["LAMBDAS", "QUALITY_SCALE", "GAIN_INITS", "GainUnits", "quantise_quality", "lambda_of", "check_quality"]

# How gain vectors start: "ones" (every gain 1, as in the paper), or "lambda" (see GainUnits.init_from_lambda).
GAIN_INITS = ("ones", "lambda")

# Quality index -> lambda of the MSE-optimised models (paper section III-C; loss = lambda * 255^2 * MSE + bpp).
LAMBDAS = {1: 0.0025, 2: 0.0035, 3: 0.0067, 4: 0.013, 5: 0.025, 6: 0.05}
_LOW, _HIGH = min(LAMBDAS), max(LAMBDAS)


def check_quality(quality: object, variable_rate: bool) -> int | float:
    """``quality`` validated: one of the integer indices of :data:`LAMBDAS` for a fixed-rate model;
    for a variable-rate one any number in [1, 6], rounded to a multiple of 1 / :data:`QUALITY_SCALE`
    (an integral result is an int)."""
    if isinstance(quality, bool) or not isinstance(quality, (int, float)):
        raise ValueError(f"quality must be a number, got {quality!r}")
    if not variable_rate:
        if not isinstance(quality, int) or quality not in LAMBDAS:
            raise ValueError(f"quality must be one of {sorted(LAMBDAS)} for a fixed-rate model, got {quality!r} "
                             f"(fractional qualities need a variable-rate model, e.g. 3dm-weconvene-small-vr)")
        return quality
    if not (math.isfinite(quality) and _LOW <= quality <= _HIGH):
        raise ValueError(f"quality must be a number in [{_LOW}, {_HIGH}] for a variable-rate model, got {quality!r}")
    return quantise_quality(quality)


def quantise_quality(quality: float) -> int | float:
    """``quality`` rounded to a multiple of 1 / :data:`QUALITY_SCALE`; an integer result is returned as an int."""
    steps = round(quality * QUALITY_SCALE)
    return steps // QUALITY_SCALE if steps % QUALITY_SCALE == 0 else steps / QUALITY_SCALE


def _neighbours(quality: float) -> tuple[int, float]:
    """``q`` in [1, 6] -> ``(i, l)``: 0-based index of the lower rate point and the weight of the upper one."""
    s = min(int(math.floor(quality)), _HIGH - 1)
    return s - _LOW, float(quality - s)


def lambda_of(quality: float) -> float:
    """The λ of a quality: :data:`LAMBDAS` at the integers, geometric interpolation in between."""
    if isinstance(quality, int) and quality in LAMBDAS:
        return LAMBDAS[quality]
    i, l = _neighbours(quality)
    return LAMBDAS[i + _LOW] ** (1 - l) * LAMBDAS[i + _LOW + 1] ** l


class GainUnits(nn.Module):
    """Log gain vectors ``y_gain``, ``y_inverse`` (points, M) and ``z_gain``, ``z_inverse`` (points, Z).

    ``forward(quality)`` -> ``{name: (1, C, 1, 1) gains}`` of that quality (see the module docstring).
    """

    NAMES = ("y_gain", "y_inverse", "z_gain", "z_inverse")

    def __init__(self, latent_channels: int, hyper_channels: int, points: int = len(LAMBDAS)) -> None:
        super().__init__()
        self.points = points
        for name in self.NAMES:
            channels = latent_channels if name.startswith("y") else hyper_channels
            self.register_parameter(name, nn.Parameter(torch.zeros(points, channels)))

    @torch.no_grad()
    def init_from_lambda(self, reference: int) -> None:
        """Start the y gains where a uniform quantiser puts them at high rate: the distortion
        ``Δ²/12`` of a step ``Δ`` is proportional to ``1/λ`` at the R-D optimum, so the gain
        (``1/Δ``) of quality ``s`` is ``sqrt(λ_s / λ_reference)`` and the inverse gain its reciprocal;
        the ``reference`` quality (the one the trunk was trained at) keeps gain 1, the z gains stay 1."""
        for i, q in enumerate(sorted(LAMBDAS)[: self.points]):
            log_gain = 0.5 * math.log(LAMBDAS[q] / LAMBDAS[reference])
            self.y_gain[i].fill_(log_gain)
            self.y_inverse[i].fill_(-log_gain)

    def forward(self, quality: float) -> dict[str, Tensor]:
        i, l = _neighbours(quality)
        out = {}
        for name in self.NAMES:
            log_gain = getattr(self, name)
            if l == 0.0:  # an integer quality uses exactly its own vector
                mixed = log_gain[i]
            else:
                mixed = (1.0 - l) * log_gain[i] + l * log_gain[i + 1]
            out[name] = torch.exp(mixed).reshape(1, -1, 1, 1)
        return out
