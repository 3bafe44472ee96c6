"""Functional wavelet transforms on tensors.

Conventions
-----------
* 2D transforms act on the last two axes of ``(N, C, H, W)`` tensors (any leading axes work).
* ``dwt2d`` returns ``(ll, highs)``: ``ll`` is the coarsest approximation and ``highs[j]`` the
  detail bands of level ``j + 1`` (``highs[0]`` is the finest), shaped ``(N, C, 3, h_j, w_j)``
  with the bands in PyWavelets' order ``(cH, cV, cD)`` = (high along H, high along W, both).
* ``idwt2d(ll, highs, size=(H, W))`` inverts it; ``size`` restores odd input sizes exactly.

All transforms are matrix products with exact float64-built operators (see
:mod:`wavelayers.operators`), so gradients are exact and any floating dtype works.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_positive_int, check_tensor
from .operators import NON_EXPANSIVE_MODES, Block, band_length, check_mode, operator_blocks
from .wavelets import canonical_name, filter_bank

__all__ = ["dwt1d", "idwt1d", "dwt2d", "idwt2d", "dwt2d_sizes"]


@torch.compiler.assume_constant_result
def _resolve(wavelet: str, mode: str) -> str:
    name = canonical_name(wavelet)
    check_mode(mode, name)
    return name


def _rows(blocks: tuple[Block, ...]) -> int:
    return blocks[-1][1]


def _cols(x: Tensor, runs: tuple[tuple[int, int], ...], dim: int) -> Tensor:
    if len(runs) == 1:
        c0, c1 = runs[0]
        return x if (c0 == 0 and c1 == x.shape[dim]) else x.narrow(dim, c0, c1 - c0)
    return torch.cat([x.narrow(dim, c0, c1 - c0) for c0, c1 in runs], dim=dim)


def _apply_last(x: Tensor, blocks: tuple[Block, ...]) -> Tensor:
    """``y[..., r] = sum_c M[r, c] x[..., c]`` for the operator ``M`` given as row blocks."""
    parts = [_cols(x, runs, -1) @ M.transpose(0, 1) for _, _, runs, M in blocks]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def _apply_rows(x: Tensor, blocks: tuple[Block, ...]) -> Tensor:
    """``y[..., r, :] = sum_c M[r, c] x[..., c, :]`` (the operator acting on axis -2)."""
    parts = [M @ _cols(x, runs, -2) for _, _, runs, M in blocks]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-2)


def _apply_along(x: Tensor, blocks: tuple[Block, ...], dim: int) -> Tensor:
    """Apply the operator to the axis ``dim`` of ``x``."""
    dim = dim % x.dim()
    if dim == x.dim() - 1:
        return _apply_last(x, blocks)
    shape = x.shape
    lead = 1
    for s in shape[:dim]:
        lead *= s
    y = _apply_rows(x.reshape(lead, shape[dim], -1), blocks)
    return y.reshape(*shape[:dim], y.shape[1], *shape[dim + 1 :])


def dwt1d(x: Tensor, wavelet: str = "haar", mode: str = "jpeg2000", dim: int = -1) -> tuple[Tensor, Tensor]:
    """One-level DWT along ``dim``; returns ``(low, high)``, each of length ``band_length(n)``."""
    check_tensor(x, "x", tuple(range(1, 9)), "(..., n, ...)")
    name = _resolve(wavelet, mode)
    n = x.shape[dim]
    A, _ = operator_blocks(name, mode, n, x.device, x.dtype)
    y = _apply_along(x, A, dim)
    m = _rows(A) // 2
    return y.narrow(dim, 0, m), y.narrow(dim, m, m)


def idwt1d(
    low: Tensor, high: Tensor, wavelet: str = "haar", mode: str = "jpeg2000", dim: int = -1, size: int | None = None
) -> Tensor:
    """Inverse of :func:`dwt1d`; ``size`` is the original length (default: ``2 * m``, or
    PyWavelets' ``2m - L + 2`` for expansive modes)."""
    check_tensor(low, "low", tuple(range(1, 9)), "(..., m, ...)")
    check_tensor(high, "high", tuple(range(1, 9)), "(..., m, ...)")
    _check_same_dtype(high, low, "high")
    if high.shape != low.shape:
        raise ValueError(f"low and high bands must have the same shape, got {tuple(low.shape)} and {tuple(high.shape)}")
    name = _resolve(wavelet, mode)
    m = low.shape[dim]
    n = _natural_size(m, name, mode) if size is None else size
    if band_length(n, name, mode) != m:
        raise ValueError(f"size {n} does not give bands of length {m} for {name!r}/{mode!r}")
    _, S = operator_blocks(name, mode, n, low.device, low.dtype)
    return _apply_along(torch.cat([low, high], dim=dim), S, dim)


def _check_same_dtype(t: Tensor, ref: Tensor, name: str) -> None:
    if t.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of the approximation band ({ref.dtype}), got {t.dtype}")


def _natural_size(m: int, wavelet: str, mode: str) -> int:
    """Default output length for bands of length ``m``: ``2m`` (non-expansive modes) or
    PyWavelets' ``2m - L + 2`` (expansive modes)."""
    if mode in NON_EXPANSIVE_MODES:
        return 2 * m
    return max(1, 2 * m - _filter_length(wavelet) + 2)


@torch.compiler.assume_constant_result
def _filter_length(wavelet: str) -> int:
    return filter_bank(wavelet).length


def dwt2d_sizes(size: tuple[int, int], wavelet: str, mode: str, levels: int) -> list[tuple[int, int]]:
    """Spatial sizes ``[(H0, W0), (H1, W1), ...]`` of the LL band at each level (level 0 = input)."""
    name = _resolve(wavelet, mode)
    sizes = [tuple(size)]
    for _ in range(levels):
        h, w = sizes[-1]
        sizes.append((band_length(h, name, mode), band_length(w, name, mode)))
    return sizes


def _dwt2_level(x: Tensor, name: str, mode: str) -> tuple[Tensor, Tensor]:
    h, w = x.shape[-2], x.shape[-1]
    Ah, _ = operator_blocks(name, mode, h, x.device, x.dtype)
    Aw, _ = operator_blocks(name, mode, w, x.device, x.dtype)
    mh, mw = _rows(Ah) // 2, _rows(Aw) // 2
    y = _apply_rows(_apply_last(x, Aw), Ah)  # (..., 2mh, 2mw) in Mallat layout
    ll = y[..., :mh, :mw]
    highs = torch.stack((y[..., mh:, :mw], y[..., :mh, mw:], y[..., mh:, mw:]), dim=-3)
    return ll, highs


def _idwt2_level(ll: Tensor, highs: Tensor, size: tuple[int, int], name: str, mode: str) -> Tensor:
    _, Sh = operator_blocks(name, mode, size[0], ll.device, ll.dtype)
    _, Sw = operator_blocks(name, mode, size[1], ll.device, ll.dtype)
    top = torch.cat((ll, highs[..., 1, :, :]), dim=-1)
    bottom = torch.cat((highs[..., 0, :, :], highs[..., 2, :, :]), dim=-1)
    y = torch.cat((top, bottom), dim=-2)
    return _apply_rows(_apply_last(y, Sw), Sh)


def dwt2d(x: Tensor, wavelet: str = "haar", levels: int = 1, mode: str = "jpeg2000") -> tuple[Tensor, list[Tensor]]:
    """Multi-level 2D DWT of ``x`` (..., H, W) -> ``(ll, [highs_level1, ..., highs_levelJ])``."""
    check_tensor(x, "x", tuple(range(2, 9)), "(..., H, W)")
    check_positive_int(levels, "levels")
    name = _resolve(wavelet, mode)
    highs: list[Tensor] = []
    ll = x
    for _ in range(levels):
        ll, h = _dwt2_level(ll, name, mode)
        highs.append(h)
    return ll.contiguous(), highs


def idwt2d(
    ll: Tensor,
    highs: list[Tensor] | tuple[Tensor, ...],
    wavelet: str = "haar",
    mode: str = "jpeg2000",
    size: tuple[int, int] | None = None,
) -> Tensor:
    """Inverse of :func:`dwt2d`. ``size`` is the input's ``(H, W)``; without it the finest level
    returns its natural (even, for non-expansive modes) size."""
    check_tensor(ll, "ll", tuple(range(2, 9)), "(..., h, w)")
    if len(highs) == 0:
        raise ValueError("highs must hold at least one level of detail bands")
    if size is not None and len(size) != 2:
        raise ValueError(f"size must be the (H, W) of the input, got {tuple(size)!r}")
    name = _resolve(wavelet, mode)
    x = ll
    for j in range(len(highs) - 1, -1, -1):
        h = check_tensor(highs[j], f"highs[{j}]", tuple(range(3, 10)), "(..., 3, h, w)")
        _check_same_dtype(h, ll, f"highs[{j}]")
        expected = (*x.shape[:-2], 3, *x.shape[-2:])
        if tuple(h.shape) != expected:
            raise ValueError(
                f"detail bands of level {j + 1} must have shape {expected} to match "
                f"the approximation band, got {tuple(h.shape)}"
            )
        if j > 0:
            target = (highs[j - 1].shape[-2], highs[j - 1].shape[-1])
        elif size is not None:
            target = (int(size[0]), int(size[1]))
        else:
            target = (_natural_size(x.shape[-2], name, mode), _natural_size(x.shape[-1], name, mode))
        for axis, (n, m) in enumerate(zip(target, x.shape[-2:])):
            if band_length(n, name, mode) != m:
                raise ValueError(
                    f"output size {target} is inconsistent with level-{j + 1} bands of size "
                    f"{tuple(x.shape[-2:])} for {name!r}/{mode!r} (axis {axis})"
                )
        x = _idwt2_level(x, h, target, name, mode)
    return x
