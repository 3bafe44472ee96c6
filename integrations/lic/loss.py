"""Rate-distortion loss with the two-stage sub-band rate re-weighting of 3DM-WeConvene (eq. 1, 2).

``loss = w1 * R_low + w2 * R_high + R_z + lambda * D`` with rates in bits per pixel:
``R_low`` sums the low-frequency bands of the entropy model (``LLL`` and ``HLL`` for 3DWeChARM,
``LL`` for WeChARM and ChWP), ``R_high`` the other bands, ``R_z`` the hyperprior. Stage 1 is
``w1 = w2 = 1`` (eq. 1); stage 2 fine-tunes with ``w1 > w2`` (eq. 2). ``D`` is ``255^2 * MSE`` (the
CompressAI / LIC-TCM scaling of the paper's lambdas) or ``1 - MS-SSIM``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from pytorch_msssim import ms_ssim
from torch import Tensor, nn

__all__ = ["RateDistortionLoss", "band_bpp"]


def band_bpp(likelihoods: dict[str, Tensor], num_pixels: int) -> dict[str, Tensor]:
    """``{key: bits per pixel}`` from a flat likelihood dict (``-sum log2 p / pixels``)."""
    return {k: torch.log(v).sum() / (-math.log(2) * num_pixels) for k, v in likelihoods.items()}


class RateDistortionLoss(nn.Module):
    """Args: ``lmbda``; ``low_bands`` (names weighted by ``w1``); ``w1``, ``w2``; ``metric``
    ('mse' or 'ms-ssim'). ``forward(output, target)`` -> dict of tensors: ``loss``, ``bpp``,
    ``bpp_low``, ``bpp_high``, ``bpp_z``, ``mse`` (or ``ms_ssim``), and ``bands`` ({band: bpp})."""

    def __init__(
        self, lmbda: float, low_bands: Iterable[str], w1: float = 1.0, w2: float = 1.0, metric: str = "mse"
    ) -> None:
        super().__init__()
        if metric not in ("mse", "ms-ssim"):
            raise ValueError(f"metric must be 'mse' or 'ms-ssim', got {metric!r}")
        for name, v in (("lmbda", lmbda), ("w1", w1), ("w2", w2)):
            if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        self.lmbda, self.w1, self.w2, self.metric = float(lmbda), float(w1), float(w2), metric
        self.low_bands = tuple(low_bands)

    @classmethod
    def for_model(cls, model: nn.Module, lmbda: float, **kwargs) -> "RateDistortionLoss":
        """The loss with ``low_bands`` taken from ``model.entropy_model.low_frequency_bands``."""
        return cls(lmbda, model.entropy_model.low_frequency_bands, **kwargs)

    def forward(self, output: dict, target: Tensor) -> dict:
        n, _, h, w = target.shape
        rates = band_bpp(output["likelihoods"], n * h * w)
        unknown = [b for b in self.low_bands if b not in rates]
        if unknown:
            raise ValueError(f"low bands {unknown} are not in the likelihoods {sorted(rates)}")
        zero = target.new_zeros(())
        bpp_low = sum((rates[b] for b in self.low_bands), zero)
        bpp_high = sum((r for k, r in rates.items() if k not in self.low_bands and k != "z"), zero)
        bpp_z = rates.get("z", zero)
        result = {"bpp": bpp_low + bpp_high + bpp_z, "bpp_low": bpp_low, "bpp_high": bpp_high, "bpp_z": bpp_z,
                  "bands": rates}
        if self.metric == "mse":
            result["mse"] = torch.mean((output["x_hat"] - target) ** 2)
            distortion = 255.0**2 * result["mse"]
        else:
            result["ms_ssim"] = ms_ssim(output["x_hat"], target, data_range=1.0)
            distortion = 1.0 - result["ms_ssim"]
        result["loss"] = self.w1 * bpp_low + self.w2 * bpp_high + bpp_z + self.lmbda * distortion
        return result
