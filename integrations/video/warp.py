"""Backward warping of a frame by a dense optical flow (bilinear, ``grid_sample``).

Convention: ``flow[:, 0]`` is the horizontal (x, width) and ``flow[:, 1]`` the vertical (y, height)
displacement in pixels, and ``warp(ref, flow)[..., y, x] = ref[..., y + flow_y, x + flow_x]``
(bilinear interpolation between the four neighbouring pixels). Sampling points are normalised with
``align_corners=True``: pixel centre ``0`` maps to ``-1`` and pixel centre ``W - 1`` to ``+1``, so an
integer flow samples pixel centres exactly. Points outside the frame take the value of the nearest
border pixel (``padding_mode='border'``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["warp", "sampling_grid"]


def sampling_grid(flow: Tensor) -> Tensor:
    """``flow`` (N, 2, H, W) in pixels -> normalised sampling grid (N, H, W, 2) for ``grid_sample``
    with ``align_corners=True``."""
    n, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
    gx = xs.view(1, 1, w) + flow[:, 0]
    gy = ys.view(1, h, 1) + flow[:, 1]
    # A one-pixel axis has no extent to normalise by; any finite scale maps its centre to -1.
    gx = 2.0 * gx / max(w - 1, 1) - 1.0
    gy = 2.0 * gy / max(h - 1, 1) - 1.0
    return torch.stack((gx, gy), dim=-1)


def warp(ref: Tensor, flow: Tensor) -> Tensor:
    """Backward-warp ``ref`` (N, C, H, W) by ``flow`` (N, 2, H, W) -> (N, C, H, W) (see module doc)."""
    if not isinstance(ref, Tensor) or not isinstance(flow, Tensor):
        raise TypeError(f"ref and flow must be tensors, got {type(ref).__name__} and {type(flow).__name__}")
    if ref.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"expected ref (N, C, H, W) and flow (N, 2, H, W), got {tuple(ref.shape)} and {tuple(flow.shape)}")
    if ref.shape[0] != flow.shape[0] or ref.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"ref {tuple(ref.shape)} and flow {tuple(flow.shape)} differ in batch or spatial size")
    grid = sampling_grid(flow.to(ref.dtype))
    return F.grid_sample(ref, grid, mode="bilinear", padding_mode="border", align_corners=True)
