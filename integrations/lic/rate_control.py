"""Coding an image at a requested rate: bisection on the quality of a variable-rate model.

The rate of a variable-rate model (:mod:`.gains`) grows with its quality ``q`` in [1, 6]. To reach
a target of ``B`` bits per pixel, :func:`compress_to_rate` codes the image for real (the bytes of
the ``.wlic`` file, header included) at ``q = 1`` and ``q = 6``, then bisects the quality interval
whose ends bracket ``B``, until a file is within ``tolerance`` (relative) of ``B`` or the interval
is narrower than the header's quality resolution. Bisection halves a 5-wide interval per encode,
so the resolution (1/1000) is reached after at most 2 + 13 encodes; the tolerance usually stops it
sooner. Every encode skips the synthesis transform, so a search costs about one analysis and one
entropy coding per encode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import Tensor

from ..compression.container import QUALITY_SCALE
from .gains import LAMBDAS, quantise_quality
from .model import WeConveneLIC, compress_image

__all__ = ["RateSearch", "compress_to_rate", "DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = 0.02  # relative: |bpp - target| <= 2% of the target


@dataclass(frozen=True)
class RateSearch:
    """The file chosen (``data``, its ``quality`` and ``bpp``) and every encode tried, in order:
    ``trials`` = ``[(quality, bpp)]``; ``within`` says whether the file meets the tolerance."""

    data: bytes
    quality: int | float
    bpp: float
    within: bool
    trials: list[tuple[int | float, float]] = field(default_factory=list)

    @property
    def encodes(self) -> int:
        return len(self.trials)


def compress_to_rate(
    model: WeConveneLIC, x: Tensor, target_bpp: float, tolerance: float = DEFAULT_TOLERANCE
) -> RateSearch:
    """Code ``x`` (1, 3, H, W) in [0, 1] with the variable-rate ``model`` at the quality whose file
    is closest to ``target_bpp`` (see the module docstring). A target below the rate at quality 1
    or above the rate at quality 6 is refused (ValueError naming the reachable range)."""
    if not model.variable_rate:
        raise ValueError(f"a target rate needs a variable-rate model (e.g. 3dm-weconvene-small-vr); "
                         f"{model.name} codes quality {model.quality} only")
    if isinstance(target_bpp, bool) or not isinstance(target_bpp, (int, float)) or not (
            math.isfinite(target_bpp) and target_bpp > 0):
        raise ValueError(f"target bpp must be a finite number > 0, got {target_bpp!r}")
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"tolerance must be a relative error in (0, 1), got {tolerance!r}")
    pixels = x.shape[-2] * x.shape[-1]
    trials: list[tuple[int | float, float]] = []
    files: dict[int | float, bytes] = {}

    def code(quality: int | float) -> float:
        data, _ = compress_image(model, x, reconstruct=False, quality=quality)
        bpp = len(data) * 8 / pixels
        trials.append((quality, bpp))
        files[quality] = data
        return bpp

    low, high = min(LAMBDAS) * QUALITY_SCALE, max(LAMBDAS) * QUALITY_SCALE  # in quality steps (integers)
    low_bpp, high_bpp = code(min(LAMBDAS)), code(max(LAMBDAS))
    if not low_bpp * (1 - tolerance) <= target_bpp <= high_bpp * (1 + tolerance):
        raise ValueError(f"target {target_bpp} bpp is out of reach for {model.name} on this image: it codes "
                         f"{low_bpp:.4f} bpp at quality {min(LAMBDAS)} and {high_bpp:.4f} bpp at quality "
                         f"{max(LAMBDAS)}")
    while high - low > 1 and not any(abs(b - target_bpp) <= tolerance * target_bpp for _, b in trials):
        middle = (low + high) // 2
        if code(quantise_quality(middle / QUALITY_SCALE)) < target_bpp:
            low = middle
        else:
            high = middle
    quality, bpp = min(trials, key=lambda t: abs(t[1] - target_bpp))
    return RateSearch(files[quality], quality, bpp, abs(bpp - target_bpp) <= tolerance * target_bpp, trials)
