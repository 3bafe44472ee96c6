"""Argument and input validation shared by the public API."""
from __future__ import annotations

import torch


def check_tensor(x: object, name: str, ndim: int | tuple[int, ...], layout: str) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor of the expected rank."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if x.dim() not in ranks:
        raise ValueError(f"{name} must have shape {layout}, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
    if not (x.is_floating_point()):
        raise TypeError(f"{name} must be a floating-point tensor (float16/bfloat16/float32/float64), got {x.dtype}")
    return x


def check_channels(x: torch.Tensor, expected: int, name: str = "input") -> None:
    if x.shape[1] != expected:
        raise ValueError(f"{name} must have {expected} channels (dim 1), got {x.shape[1]} in shape {tuple(x.shape)}")


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def is_channels_last(x: torch.Tensor) -> bool:
    """True for a 4-D tensor stored NHWC (channels_last) rather than NCHW."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def like_input_layout(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out`` in channels_last memory format when the input ``x`` was channels_last, else as is."""
    return out.contiguous(memory_format=torch.channels_last) if is_channels_last(x) else out
