"""The replacement layer's contract: how the rewriters call ``layer=`` and what they read back.

A layer factory (a class or any callable) is called once per site as::

    layer(in_channels, out_channels, stride=2, kernel_size=k, wavelet=name,
          [transposed=True,]          # replace_upsampling only (output 2H x 2W)
          [levels=...,] [mode=...,]   # only when given to the rewriter
          **layer_kwargs)             # whatever else the rewriter was given

and must return an ``nn.Module`` mapping ``(N, in, H, W)`` to ``(N, out, ceil(H/2), ceil(W/2))``
(down) or ``(N, out, 2H, 2W)`` (up). It may raise ``ValueError`` to refuse a site (the site is
then reported as skipped). Two optional extras:

* ``head``: an ``nn.Conv2d`` / ``nn.ConvTranspose2d`` (or an ``nn.Sequential`` starting with one);
  with ``copy_weights=True`` the old conv's weights seed it when the shapes match.
* ``describe() -> str``: the one-line description the report shows.
"""
from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from torch import nn

__all__ = ["LayerFactory", "SeedableLayer", "Describes", "UP_KWARGS", "LEGACY_UP_KWARGS", "factory_call_kwargs"]

UP_KWARGS: dict[str, Any] = {"transposed": True}
"""What the rewriters add to a factory call for an up-sampling site."""

LEGACY_UP_KWARGS: dict[str, Any] = {"transposed": True}
"""The spelling before 0.2, still passed (with a DeprecationWarning) to a factory that only knows it."""


class LayerFactory(Protocol):
    """What ``layer=`` must be: ``layer(in_channels, out_channels, *, stride, kernel_size, wavelet,
    **options) -> nn.Module`` (see the module docstring for the call and the returned shapes)."""

    def __call__(
        self, in_channels: int, out_channels: int, /, *, stride: int, kernel_size: int, wavelet: str, **options: Any
    ) -> nn.Module: ...


class SeedableLayer(Protocol):
    """A layer whose ``head`` conv can take the old conv's weights (``copy_weights=True``)."""

    head: nn.Module


@runtime_checkable
class Describes(Protocol):
    """A module that gives the report its own one-line description."""

    def describe(self) -> str: ...


def factory_call_kwargs(layer: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check that ``layer`` can be called as ``layer(in, out, **kwargs)``; return the keywords to use
    (the up-sampling keyword in its old spelling for a factory that only accepts that one).

    Raises:
        TypeError: ``layer`` is not callable, takes fewer than two positional arguments, lacks a
            keyword the rewriter passes, or requires one it does not pass.
    """
    if not callable(layer):
        raise TypeError(f"layer must be an nn.Module class or a callable returning one, got {layer!r}")
    try:
        sig = inspect.signature(layer)
    except (TypeError, ValueError):  # some builtins and C callables have no signature: call and see
        return dict(kwargs)
    name = getattr(layer, "__qualname__", repr(layer))
    params = list(sig.parameters.values())
    kinds = inspect.Parameter
    positional = [p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2 and not any(p.kind is kinds.VAR_POSITIONAL for p in params):
        raise TypeError(
            f"layer {name}{sig} must take (in_channels, out_channels) as its first two positional arguments"
        )
    rest = [p for p in params if p not in positional[:2]]
    by_keyword = {p.name for p in rest if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
    any_keyword = any(p.kind is kinds.VAR_KEYWORD for p in params)
    out = dict(kwargs)
    up = next(iter(UP_KWARGS))
    legacy = next(iter(LEGACY_UP_KWARGS))
    if up in out and not any_keyword and up not in by_keyword and legacy in by_keyword:
        warnings.warn(
            f"layer {name} takes {legacy}= but not {up}=; the rewriters call factories with {up}=True "
            f"since wavelayers 0.2 and pass {legacy}=True only for one more release",
            DeprecationWarning, stacklevel=5,  # the user -> rewriter -> make_options -> here
        )
        del out[up]
        out.update(LEGACY_UP_KWARGS)
    missing = [] if any_keyword else [k for k in out if k not in by_keyword]
    if missing:
        raise TypeError(
            f"layer {name}{sig} does not accept {missing}; the rewriter calls "
            f"layer(in_channels, out_channels, {', '.join(f'{k}=...' for k in out)})"
        )
    required = [
        p.name for p in rest
        if p.default is kinds.empty and p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
        and p.name not in out
    ]
    if required:
        raise TypeError(f"layer {name}{sig} requires {required}, which the rewriter does not pass")
    return out
