"""Normalisation and activation factories shared by the layers."""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GDN", "make_norm", "make_act", "NORMS", "ACTS"]

NORMS = (None, "none", "batch", "group", "layer", "gdn", "igdn")
ACTS = (None, "none", "relu", "leaky_relu", "gelu", "silu")


class GDN(nn.Module):
    """Generalized divisive normalisation (Balle et al. 2016), ``(N, C, H, W) -> (N, C, H, W)``.

    ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``; ``inverse=True`` multiplies instead (IGDN).
    ``beta`` and ``gamma`` are kept non-negative by a squared reparametrisation with a floor.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels)))

    def forward(self, x: Tensor) -> Tensor:
        beta = self.beta.pow(2) + self.beta_min
        gamma = self.gamma.pow(2)
        norm = nn.functional.conv2d(x * x, gamma[:, :, None, None].to(x.dtype), beta.to(x.dtype))
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)

    def extra_repr(self) -> str:
        return f"channels={self.beta.numel()}, inverse={self.inverse}"


class _ChannelLayerNorm(nn.GroupNorm):
    """LayerNorm over channels and space of each sample (GroupNorm with one group)."""

    def __init__(self, channels: int) -> None:
        super().__init__(1, channels)


def make_norm(norm: str | None, channels: int) -> nn.Module:
    """``None``/'none' -> Identity, 'batch', 'group' (32 groups or fewer), 'layer', 'gdn', 'igdn'."""
    if norm in (None, "none"):
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if norm == "layer":
        return _ChannelLayerNorm(channels)
    if norm in ("gdn", "igdn"):
        return GDN(channels, inverse=norm == "igdn")
    raise ValueError(f"unknown norm {norm!r}: expected one of {NORMS}")


def make_act(act: str | None) -> nn.Module:
    """``None``/'none' -> Identity, 'relu', 'leaky_relu' (slope 0.01), 'gelu', 'silu'."""
    if act in (None, "none"):
        return nn.Identity()
    if act == "relu":
        return nn.ReLU(inplace=False)
    if act == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if act == "gelu":
        return nn.GELU()
    if act == "silu":
        return nn.SiLU()
    raise ValueError(f"unknown activation {act!r}: expected one of {ACTS}")
