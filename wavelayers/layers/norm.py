"""Normalisation and activation factories shared by the layers.

``norm=`` and ``act=`` of the layers take a name, ``None``, or a factory, as timm's layers do:

* ``norm``: a callable called once per normalised band as ``norm(channels)`` with the band's
  channel count as its only (positional) argument -- an nn.Module class (``nn.BatchNorm2d``,
  ``GDN``) or e.g. ``functools.partial(nn.GroupNorm, 4)``;
* ``act``: a callable called once with no arguments, ``act()`` -- an nn.Module class
  (``nn.ReLU``, ``nn.GELU``) or e.g. ``functools.partial(nn.LeakyReLU, 0.2)``.

An nn.Module *instance* is a TypeError (one instance cannot serve several bands or layers);
so is a factory that does not return an nn.Module.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Union

import torch
from torch import Tensor, nn

from .._checks import check_positive_int, check_tensor
from .._deprecation import keyword_only_after

__all__ = ["GDN", "make_norm", "make_act", "NORMS", "ACTS", "NormSpec", "ActSpec"]

NormSpec = Union[str, None, Callable[[int], nn.Module]]
ActSpec = Union[str, None, Callable[[], nn.Module]]

NORMS = (None, "none", "batch", "group", "layer", "gdn", "igdn")
ACTS = (None, "none", "relu", "leaky_relu", "gelu", "silu")


class GDN(nn.Module):
    """Generalized divisive normalisation (Balle et al. 2016), ``(N, C, H, W) -> (N, C, H, W)``.

    ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``; ``inverse=True`` multiplies instead (IGDN).
    ``beta`` and ``gamma`` are kept non-negative by a squared reparametrisation with a floor.
    NaN or inf in the input passes through (as for any normalisation layer).
    """

    @keyword_only_after(("channels",), ("channels", "inverse", "beta_min", "gamma_init"))
    def __init__(
        self, channels: int, *, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1
    ) -> None:
        super().__init__()
        check_positive_int(channels, "channels")
        if not isinstance(inverse, bool):
            raise TypeError(f"inverse must be a bool, got {inverse!r}")
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels)))

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "input", 4, "(N, C, H, W)", nonempty=(1, 2, 3))
        if x.shape[1] != self.beta.numel():
            raise ValueError(f"input must have {self.beta.numel()} channels (dim 1), got {x.shape[1]} in shape "
                             f"{tuple(x.shape)}")
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


def _from_factory(spec: object, name: str, *args: int) -> nn.Module | None:
    """Call a factory ``spec(*args)``; None when ``spec`` is a name (or None)."""
    if spec is None or isinstance(spec, str):
        return None
    if isinstance(spec, nn.Module):
        raise TypeError(
            f"{name} must be a name, an nn.Module class or a factory, got the instance {spec!r}; "
            f"pass the class ({type(spec).__name__}) or functools.partial({type(spec).__name__}, ...)"
        )
    if not callable(spec):
        raise TypeError(f"{name} must be a name (str), None, or a callable returning an nn.Module, got {spec!r}")
    module = spec(*args)
    if not isinstance(module, nn.Module):
        call = f"{name}({', '.join(map(str, args))})"
        raise TypeError(f"{call} must return an nn.Module, got {type(module).__name__}")
    return module


def make_norm(norm: NormSpec, channels: int) -> nn.Module:
    """``None``/'none' -> Identity, 'batch', 'group' (32 groups or fewer), 'layer', 'gdn', 'igdn',
    or ``norm(channels)`` for a callable."""
    module = _from_factory(norm, "norm", channels)
    if module is not None:
        return module
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


def make_act(act: ActSpec) -> nn.Module:
    """``None``/'none' -> Identity, 'relu', 'leaky_relu' (slope 0.01), 'gelu', 'silu', or ``act()``
    for a callable."""
    module = _from_factory(act, "act")
    if module is not None:
        return module
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
