"""The one-release shim for the pre-0.2 argument spellings (positional arguments past the wavelet).

Since 0.2 every public function and module takes its data (functions) or channel counts (modules)
and the wavelet positionally and everything else by keyword. :func:`keyword_only_after` wraps a
function or ``__init__`` so that an old positional call still works: the positional values are
mapped to names in the old order and a :class:`DeprecationWarning` says which names to spell out.
``inspect.signature`` of the wrapped callable shows the new signature (``functools.wraps``).
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["keyword_only_after", "warn_deprecated", "REMOVED_IN"]

REMOVED_IN = "0.3"

F = TypeVar("F", bound=Callable[..., Any])


def warn_deprecated(message: str, stacklevel: int = 3) -> None:
    """A :class:`DeprecationWarning` that names the release removing the old spelling."""
    warnings.warn(f"{message} (deprecated in wavelayers 0.2, removed in {REMOVED_IN})", DeprecationWarning,
                  stacklevel=stacklevel)


def keyword_only_after(new: tuple[str, ...], old: tuple[str, ...], wavelet_slot: int | None = None) -> Callable[[F], F]:
    """Accept the old positional order ``old`` of a callable whose positional parameters are now ``new``.

    ``new`` and ``old`` name the positional parameters (``self`` excluded, for methods the wrapper
    skips the first argument). A call is in the old spelling when it passes more positional
    values than ``new`` holds, or when the value in ``wavelet_slot`` (an index into ``new`` where
    ``old`` had another parameter) is not a ``str``. A call in the new spelling passes through
    untouched.
    """

    def decorate(fn: F) -> F:
        qualname = fn.__qualname__.replace(".__init__", "")
        is_method = fn.__name__ in ("__init__", "forward")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            head, given = (args[:1], args[1:]) if is_method else ((), args)
            old_slot = (
                wavelet_slot is not None and len(given) > wavelet_slot and not isinstance(given[wavelet_slot], str)
            )
            if len(given) <= len(new) and not old_slot:
                return fn(*args, **kwargs)
            if len(given) > len(old):
                raise TypeError(
                    f"{qualname}() takes at most {len(new)} positional arguments ({', '.join(new)}), got {len(given)}"
                )
            if wavelet_slot is not None and len(given) > wavelet_slot and isinstance(given[wavelet_slot], str) \
                    and old[wavelet_slot] != "wavelet":
                raise TypeError(
                    f"{qualname}() takes {len(new)} positional arguments ({', '.join(new)}), got {len(given)}; "
                    f"pass the others by keyword"
                )
            moved = {}
            for name, value in zip(old, given):
                if name in kwargs:
                    raise TypeError(f"{qualname}() got multiple values for argument {name!r}")
                moved[name] = value
            keyword = [name for name in moved if name not in new or new.index(name) != old.index(name)]
            warn_deprecated(
                f"{qualname}(): passing {', '.join(keyword)} positionally is deprecated; "
                f"only {', '.join(new)} are positional, pass " + ", ".join(f"{k}=..." for k in keyword),
            )
            return fn(*head, **moved, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
