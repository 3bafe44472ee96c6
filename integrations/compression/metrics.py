"""Quality and rate measures on 8-bit RGB images (H, W, 3) uint8, as used for codec evaluation.

PSNR is computed on the 8-bit images (after the decoder's output is rounded to uint8), with the
mean squared error over all pixels and the three channels, not averaged per channel. MS-SSIM is
pytorch_msssim's (Wang et al. 2003: 5 scales, 11x11 Gaussian window, sigma 1.5), on the three RGB
channels with data range 255, averaged over channels.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["psnr", "ms_ssim", "bpp", "MS_SSIM_MIN_SIDE"]

# pytorch_msssim's 5 scales with an 11-tap window need both sides > (11 - 1) * 2**4.
MS_SSIM_MIN_SIDE = 161


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
            raise TypeError(f"{name} must be a uint8 numpy array, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"{name} must have shape (H, W, 3), got {x.shape}")
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray, max_val: float = 255.0) -> float:
    """PSNR in dB between two (H, W, 3) uint8 images; ``inf`` when they are identical."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(max_val**2 / mse)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM in [0, 1] between two (H, W, 3) uint8 images (both sides >= 161 pixels)."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    _check_pair(a, b)
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        raise ValueError(f"MS-SSIM (5 scales) needs both sides >= {MS_SSIM_MIN_SIDE} pixels, got {a.shape[:2]}")
    x, y = (torch.from_numpy(v.astype(np.float32)).permute(2, 0, 1).unsqueeze(0) for v in (a, b))
    with torch.no_grad():
        return float(_ms_ssim(x, y, data_range=255.0, size_average=True))


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of ``num_bytes`` for a ``height`` x ``width`` image."""
    if num_bytes < 0 or height < 1 or width < 1:
        raise ValueError(f"expected num_bytes >= 0 and a positive size, got {num_bytes} bytes for {height}x{width}")
    return num_bytes * 8.0 / (height * width)
