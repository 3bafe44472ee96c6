"""PSNR and SSIM on image tensors, computed as ``skimage.metrics`` computes them.

``ssim(..., gaussian=False)`` equals ``structural_similarity(a, b, data_range=..., channel_axis=...)``
(7x7 uniform window, sample covariance); ``gaussian=True`` equals the same call with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` (the Wang et al. / MATLAB setting).
Both average the SSIM map over the region not touched by the window's border (skimage crops
``(win - 1) // 2`` pixels per side), then over channels. Computation is in float64.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["psnr", "ssim", "quantize"]

K1, K2 = 0.01, 0.03


def _as_batch(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"{name} must be (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}")
    return x.double()


def _pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    x, y = _as_batch(a, "a"), _as_batch(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return x, y


def quantize(x: Tensor, bits: int = 8) -> Tensor:
    """Clamp to [0, 1] and round to ``2**bits`` levels (what saving an 8-bit image does)."""
    levels = 2**bits - 1
    return (x.clamp(0, 1) * levels).round() / levels


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-image PSNR in dB, shape (N,): ``10 log10(data_range^2 / MSE)`` over all of C, H, W."""
    x, y = _pair(a, b)
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse)


def _window(gaussian: bool, win_size: int | None, sigma: float, dtype: torch.dtype) -> Tensor:
    if gaussian:
        radius = int(3.5 * sigma + 0.5)  # scipy.ndimage.gaussian_filter's truncate=3.5
        t = torch.arange(-radius, radius + 1, dtype=dtype)
        g = torch.exp(-0.5 * (t / sigma) ** 2)
        g = g / g.sum()
    else:
        size = win_size or 7
        g = torch.full((size,), 1.0 / size, dtype=dtype)
    return g


def _filter(x: Tensor, g: Tensor) -> Tensor:
    """Separable 'valid' filtering of (M, 1, H, W) with the 1D window ``g``."""
    k = g.numel()
    x = F.conv2d(x, g.reshape(1, 1, k, 1))
    return F.conv2d(x, g.reshape(1, 1, 1, k))


def ssim(
    a: Tensor,
    b: Tensor,
    data_range: float = 1.0,
    gaussian: bool = False,
    win_size: int | None = None,
    sigma: float = 1.5,
) -> Tensor:
    """Per-image SSIM, shape (N,), averaged over channels as skimage does with ``channel_axis``."""
    x, y = _pair(a, b)
    g = _window(gaussian, win_size, sigma, x.dtype)
    k = g.numel()
    if min(x.shape[-2:]) < k:
        raise ValueError(f"images must be at least {k}x{k} for SSIM, got {tuple(x.shape[-2:])}")
    n, c, h, w = x.shape
    np_ = k * k
    cov_norm = 1.0 if gaussian else np_ / (np_ - 1)
    stack = torch.cat([x, y, x * x, y * y, x * y]).reshape(5 * n * c, 1, h, w)
    ux, uy, uxx, uyy, uxy = _filter(stack, g).reshape(5, n, c, h - k + 1, w - k + 1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(2).mean(dim=2).mean(dim=1)

