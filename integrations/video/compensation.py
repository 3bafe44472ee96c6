"""DVC's motion compensation network: refines the warped reference into the prediction.

Input ``[warped reference, reference, decoded flow]`` (N, 8, H, W) -> a 3-scale U-Net (2x2 average
pooling down, bilinear up, additive skips) of pre-activation residual blocks -> (N, 3, H, W),
added to the warped reference. Any H, W (pooling uses ``ceil_mode``; up-sampling resizes to the
skip's size).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MotionCompensation"]


class _ResBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(relu(conv(relu(x))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _down(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2, ceil_mode=True, count_include_pad=False)


def _up_to(x: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class MotionCompensation(nn.Module):
    """``(warped, ref, flow) -> prediction`` (N, 3, H, W); ``channels`` is the U-Net width (DVC: 64)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.head = nn.Conv2d(8, channels, 3, padding=1)
        self.enc0 = _ResBlock(channels)
        self.enc1 = _ResBlock(channels)
        self.mid = nn.Sequential(_ResBlock(channels), _ResBlock(channels))
        self.dec1 = _ResBlock(channels)
        self.dec0 = _ResBlock(channels)
        self.tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, 3, 3, padding=1))

    def forward(self, warped: Tensor, ref: Tensor, flow: Tensor) -> Tensor:
        s0 = self.enc0(self.head(torch.cat((warped, ref, flow), dim=1)))
        s1 = self.enc1(_down(s0))
        m = self.mid(_down(s1))
        d1 = self.dec1(_up_to(m, s1) + s1)
        d0 = self.dec0(_up_to(d1, s0) + s0)
        return warped + self.tail(d0)
