"""What both rewriters take, declared once: :class:`RewriteOptions` (the shared keyword arguments)
and :func:`rewriter` (the public signature built from them, with the pre-0.2 positional shim)."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from .._deprecation import keyword_only_after
from ..layers import WeConv3D
from .contract import LayerFactory

__all__ = ["Patterns", "RewriteOptions", "rewriter", "DEFAULT_WAVELET", "NEW_POSITIONAL", "OLD_POSITIONAL"]

Patterns = str | Iterable[str] | None
DEFAULT_WAVELET = "bior4.4"
NEW_POSITIONAL = ("model", "wavelet")
OLD_POSITIONAL = ("model", "layer", "wavelet", "levels", "include", "exclude", "dry_run", "inplace")  # before 0.2

F = TypeVar("F", bound=Callable[..., Any])


def _as_patterns(patterns: Patterns, name: str) -> tuple[str, ...] | None:
    if patterns is None:
        return None
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"{name} must be a glob pattern or a list of glob patterns (str), got {patterns!r}")
    return patterns


@dataclass(frozen=True)
class RewriteOptions:
    """The keyword arguments ``replace_downsampling`` and ``replace_upsampling`` share (documented
    in :func:`~wavelayers.rewrite.replace_downsampling`), checked on construction; ``include`` /
    ``exclude`` are kept as tuples of patterns (or None)."""

    layer: LayerFactory = WeConv3D
    mode: str | None = None
    levels: int | None = None
    include: Patterns = None
    exclude: Patterns = None
    dry_run: bool = False
    inplace: bool = False
    copy_weights: bool = True
    example_input: Any = None

    def __post_init__(self) -> None:
        levels = self.levels
        if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int) or levels < 1):
            raise ValueError(f"levels must be None or an integer >= 1, got {levels!r}")
        for name in ("dry_run", "inplace", "copy_weights"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("include", "exclude"):
            object.__setattr__(self, name, _as_patterns(getattr(self, name), name))


_FIELDS = tuple(f.name for f in dataclasses.fields(RewriteOptions))


def rewriter(fn: F) -> F:
    """The public calling convention of a rewriter ``fn(model, wavelet, options, *, <own keywords>,
    **layer_kwargs)``: ``(model, wavelet=DEFAULT_WAVELET, *, <the fields of RewriteOptions>, <own
    keywords>, **layer_kwargs)``, which ``inspect.signature`` (hence docs/api.md) shows; a call's
    values for the fields are checked and passed as one ``options``. The pre-0.2 positional order
    :data:`OLD_POSITIONAL` still works, with a DeprecationWarning."""
    sig = inspect.signature(fn, eval_str=True)
    hints = typing.get_type_hints(RewriteOptions)
    kinds = inspect.Parameter
    model, wavelet, _options, *own = sig.parameters.values()
    public = [model, wavelet.replace(default=DEFAULT_WAVELET)] + [
        kinds(f.name, kinds.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
        for f in dataclasses.fields(RewriteOptions)
    ]

    @functools.wraps(fn)
    def wrapper(model: nn.Module, wavelet: str = DEFAULT_WAVELET, **kwargs: Any) -> Any:
        if "options" in kwargs:
            raise TypeError(f"{fn.__name__}() takes its options by keyword ({', '.join(_FIELDS)}), not as options=")
        options = RewriteOptions(**{name: kwargs.pop(name) for name in _FIELDS if name in kwargs})
        return fn(model, wavelet, options, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=public + own)  # type: ignore[attr-defined]
    return keyword_only_after(NEW_POSITIONAL, OLD_POSITIONAL, wavelet_slot=1)(wrapper)
