"""The replacement layer's contract: how the rewriters call ``layer=`` and what they read back.

A layer factory (a class or any callable) is called once per site as::

    layer(in_channels, out_channels, stride=2, kernel_size=k, wavelet=name,   # down-sampling site
          [levels=...,] [mode=...,] **layer_kwargs)
    layer(in_channels, out_channels, upsample="subpixel", kernel_size=k, wavelet=name,  # up-sampling
          [levels=...,] [mode=...,] **layer_kwargs)

(``levels`` / ``mode`` only when given to the rewriter, ``upsample`` as given to
``replace_upsampling``) and must return an ``nn.Module`` mapping ``(N, in, H, W)`` to
``(N, out, ceil(H/2), ceil(W/2))`` (down) or ``(N, out, 2H, 2W)`` (up). It may raise
``ValueError`` to refuse a site (the site is then reported as skipped). Two optional extras:

* ``head``: an ``nn.Conv2d`` / ``nn.ConvTranspose2d`` (or an ``nn.Sequential`` starting with one);
  with ``copy_weights=True`` the old conv's weights seed it when the shapes match.
* ``describe() -> str``: the one-line description the report shows.

A factory written for wavelayers 0.1 (one that names a ``transposed`` parameter) is still called
the old way at up-sampling sites, ``stride=2, transposed=True``, with a DeprecationWarning.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from torch import nn

from .._deprecation import warn_deprecated

__all__ = ["LayerFactory", "SeedableLayer", "Describes", "PER_SITE", "factory_call_kwargs"]

PER_SITE = frozenset({"in_channels", "out_channels", "stride", "kernel_size", "upsample", "transposed"})
"""Layer arguments the rewriters set per site (not accepted in ``**layer_kwargs``)."""


class LayerFactory(Protocol):
    """What ``layer=`` must be: ``layer(in_channels, out_channels, *, kernel_size, wavelet, **options)
    -> nn.Module``, ``options`` holding ``stride=2`` (down) or ``upsample=...`` (up) and the
    rewriter's ``levels`` / ``mode`` / ``**layer_kwargs`` (see the module docstring)."""

    def __call__(
        self, in_channels: int, out_channels: int, /, *, kernel_size: int, wavelet: str, **options: Any
    ) -> nn.Module: ...


class SeedableLayer(Protocol):
    """A layer whose ``head`` conv can take the old conv's weights (``copy_weights=True``)."""

    head: nn.Module


@runtime_checkable
class Describes(Protocol):
    """A module that gives the report its own one-line description."""

    def describe(self) -> str: ...


def factory_call_kwargs(layer: Any, call: Mapping[str, Any], upsample: str | None = None) -> dict[str, Any]:
    """The keywords to call ``layer(in, out, **keywords)`` with at a site: ``call`` plus
    ``stride=2`` (down, ``upsample=None``) or ``upsample=upsample`` (up; the 0.1 spelling for a
    factory that names ``transposed``). Checks that ``layer`` accepts them.

    Raises:
        TypeError: ``layer`` is not callable, takes fewer than two positional arguments, lacks a
            keyword the rewriter passes, or requires one it does not pass.
    """
    if not callable(layer):
        raise TypeError(f"layer must be an nn.Module class or a callable returning one, got {layer!r}")
    try:
        sig = inspect.signature(layer)
    except (TypeError, ValueError):  # some builtins and C callables have no signature: call and see
        sig = None
    params = list(sig.parameters.values()) if sig is not None else []
    kinds = inspect.Parameter
    positional = [p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    rest = [p for p in params if p not in positional[:2]]
    by_keyword = {p.name for p in rest if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
    name = getattr(layer, "__qualname__", repr(layer))
    out = dict(call)
    if upsample is None:
        out["stride"] = 2
    elif "transposed" in by_keyword:
        warn_deprecated(
            f"layer {name} names a 'transposed' parameter, so the rewriter calls it the 0.1 way "
            f"(stride=2, transposed=True) at up-sampling sites; take upsample= instead", stacklevel=7,
        )
        out.update(stride=2, transposed=True)
        if "upsample" in by_keyword:
            out["upsample"] = upsample
    else:
        out["upsample"] = upsample
    if sig is None:
        return out
    if len(positional) < 2 and not any(p.kind is kinds.VAR_POSITIONAL for p in params):
        raise TypeError(
            f"layer {name}{sig} must take (in_channels, out_channels) as its first two positional arguments"
        )
    missing = [] if any(p.kind is kinds.VAR_KEYWORD for p in params) else [k for k in out if k not in by_keyword]
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
