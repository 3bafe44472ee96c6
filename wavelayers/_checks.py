"""Argument and input validation shared by the public API.

The rule (docs/guide.md, "Errors"): a TypeError when an argument has the wrong *type* (not a
tensor, an integer tensor, a float where an int is due, a name that is not a str, a module
instance where a class is due); a ValueError when the type is right but the *value* is not (a
rank, shape, channel count, size, range or name the call cannot use). Messages name what was
expected and what was given.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def check_tensor(
    x: object, name: str, ndim: int | tuple[int, ...], layout: str, nonempty: tuple[int, ...] = ()
) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor of the expected rank whose axes ``nonempty``
    (indices, negative from the end; ``(1, ...)``-style layouts pass ``range(1, ndim)``) are not empty."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if x.dim() not in ranks:
        raise ValueError(f"{name} must have shape {layout}, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
    if not (x.is_floating_point()):
        raise TypeError(f"{name} must be a floating-point tensor (float16/bfloat16/float32/float64), got {x.dtype}")
    for axis in nonempty:
        a = axis % x.dim()
        if x.shape[a] == 0:
            raise ValueError(
                f"{name} must have shape {layout} with axis {a} non-empty (only leading batch axes may be 0), "
                f"but axis {a} is empty: got shape {tuple(x.shape)}"
            )
    return x


def check_channels(x: torch.Tensor, expected: int, name: str = "input") -> None:
    if x.shape[1] != expected:
        raise ValueError(f"{name} must have {expected} channels (dim 1), got {x.shape[1]} in shape {tuple(x.shape)}")


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``: TypeError for a non-int (bool, float), ValueError below."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _is_int(v: object) -> bool:
    return isinstance(v, (int, torch.SymInt)) and not isinstance(v, bool)


def check_size(size: object, name: str, length: int) -> tuple[int, ...]:
    """A spatial size of ``length`` positive ints (an int is accepted for ``length == 1``)."""
    what = "an int >= 1" if length == 1 else f"a sequence of {length} ints >= 1 such as (H, W)"
    if length == 1:
        if not _is_int(size):
            raise TypeError(f"{name} must be {what}, got {size!r}")
        size = (size,)
    if not isinstance(size, Sequence) or isinstance(size, str) or not all(_is_int(v) for v in size):
        raise TypeError(f"{name} must be {what}, got {size!r}")
    if len(size) != length or any(v < 1 for v in size):
        raise ValueError(f"{name} must be {what}, got {tuple(size)!r}")
    return tuple(size)


def check_dim(dim: object, x: torch.Tensor) -> int:
    """``dim`` as a non-negative axis index of ``x``."""
    if not _is_int(dim):
        raise TypeError(f"dim must be an int, got {type(dim).__name__} {dim!r}")
    r = x.dim()
    if not -r <= dim < r:
        raise ValueError(f"dim must be in [{-r}, {r}) for a {r}-D input, got {dim}")
    return dim % r


def is_channels_last(x: torch.Tensor) -> bool:
    """True for a 4-D tensor stored NHWC (channels_last) rather than NCHW."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def like_input_layout(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out`` in channels_last memory format when the input ``x`` was channels_last, else as is."""
    return out.contiguous(memory_format=torch.channels_last) if is_channels_last(x) else out
