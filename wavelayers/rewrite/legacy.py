"""The rewriters' argument spellings before 0.2, accepted for one more release with a DeprecationWarning.

Before 0.2: ``replace_downsampling(model, layer, wavelet, levels, include, exclude, dry_run,
inplace)`` by position, and ``fuse_pool_conv=`` (now ``fuse=``, as in ``replace_upsampling``).
Since 0.2 only ``model`` and ``wavelet`` go by position.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["accepts_old_spellings"]

F = TypeVar("F", bound=Callable[..., Any])

_OLD_POSITIONAL = ("layer", "wavelet", "levels", "include", "exclude", "dry_run", "inplace")


def _is_layer(value: Any) -> bool:
    return callable(value) and not isinstance(value, str)


def accepts_old_spellings(renamed: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Decorate a rewriter ``f(model, wavelet=..., *, ...)`` so that the old positional order
    (``layer`` second) and the old keyword names in ``renamed`` (old -> new) still work, with a
    DeprecationWarning naming the new spelling."""
    renamed = dict(renamed or {})

    def decorate(func: F) -> F:
        name = func.__name__

        @functools.wraps(func)
        def wrapper(model: Any, *args: Any, **kwargs: Any) -> Any:
            for old, new in renamed.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{name}() got both {old}= (the old name) and {new}=; pass only {new}=")
                    warnings.warn(f"{name}({old}=...) is deprecated; use {new}=...", DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            if not args or (len(args) == 1 and not _is_layer(args[0])):
                return func(model, *args, **kwargs)
            if not _is_layer(args[0]) or len(args) > len(_OLD_POSITIONAL):
                raise TypeError(
                    f"{name}() takes model and wavelet by position and the rest by name, got {1 + len(args)} "
                    f"positional arguments"
                )
            names = _OLD_POSITIONAL[: len(args)]
            twice = [n for n in names if n in kwargs]
            if twice:
                raise TypeError(f"{name}() got multiple values for {twice}")
            warnings.warn(
                f"{name}(model, {', '.join(names)}) by position is deprecated; pass model and wavelet by "
                f"position and the rest by name: {name}(model, wavelet, layer=..., levels=..., ...)",
                DeprecationWarning, stacklevel=2,
            )
            return func(model, **kwargs, **dict(zip(names, args)))

        return wrapper  # type: ignore[return-value]

    return decorate
