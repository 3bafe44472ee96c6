"""Functional wavelet transforms on tensors.

Conventions
-----------
* 2D transforms act on the last two axes of ``(N, C, H, W)`` tensors (any leading axes work).
* ``dwt2d`` returns ``(ll, highs)`` (a :class:`~wavelayers.coeffs.WaveletCoeffs2D`): ``ll`` is
  the coarsest approximation and ``highs[j]`` the detail bands of level ``j + 1`` (``highs[0]``
  is the finest), shaped ``(N, C, 3, h_j, w_j)`` with the bands in PyWavelets' order
  ``(cH, cV, cD)`` = (high along H, high along W, both).
* ``idwt2d(ll, highs)`` inverts it exactly, odd sizes included: ``highs`` remembers the input
  size, wavelet and mode. Bands in a plain list need ``size=(H, W)``; no inverse guesses a size.
* Arguments: the data and the wavelet are positional, everything else is keyword-only (the
  pre-0.2 positional spellings still work for one release, with a DeprecationWarning).

All transforms are matrix products with exact float64-built operators (see
:mod:`wavelayers.operators`), so gradients are exact and any floating dtype works.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_dim, check_positive_int, check_size, check_tensor
from ._deprecation import keyword_only_after
from ._lifting import split_bands
from .coeffs import DetailBands, WaveletCoeffs1D, WaveletCoeffs2D
from .operators import (
    NON_EXPANSIVE_MODES,
    BlockedMatrix,
    MatrixOperator,
    StepsOperator,
    _constant,
    band_length,
    check_mode,
    native_level_operator,
    operator,
    operator_blocks,
)
from .wavelets import canonical_name, filter_bank

__all__ = ["dwt1d", "idwt1d", "dwt2d", "idwt2d", "dwt2d_sizes", "WaveletCoeffs1D", "WaveletCoeffs2D", "DetailBands"]


@_constant
def _resolve(wavelet: str, mode: str) -> str:
    name = canonical_name(wavelet)
    check_mode(mode, name)
    return name


def _rows(blocks: BlockedMatrix) -> int:
    return blocks[-1][1]


def _block_inputs(x: Tensor, blocks: BlockedMatrix, dim: int) -> list[Tensor]:
    """The input columns (along ``dim``) that each row block multiplies.

    Without autograd, ``narrow`` views (free; a matmul reads them in place along axis -2). With
    autograd, one ``index_select`` gathers the runs of every block and ``split`` hands them out, so
    the backward pass is one ``index_add`` and one ``cat``: the backward of a ``narrow`` per block
    would zero-fill a full-size gradient for every block."""
    if blocks.gather is None:
        return [x]
    if torch.is_grad_enabled() and x.requires_grad:
        return list(x.index_select(dim, blocks.gather).split(blocks.widths, dim))
    return [_runs(x, runs, dim) for _, _, runs, _ in blocks]


def _runs(x: Tensor, runs: tuple[tuple[int, int], ...], dim: int) -> Tensor:
    if len(runs) == 1:
        return x.narrow(dim, runs[0][0], runs[0][1] - runs[0][0])
    return torch.cat([x.narrow(dim, c0, c1 - c0) for c0, c1 in runs], dim=dim)


def _apply_last(x: Tensor, blocks: BlockedMatrix) -> Tensor:
    """``y[..., r] = sum_c M[r, c] x[..., c]`` for the operator ``M`` given as row blocks."""
    parts = [xb @ M.transpose(0, 1) for xb, (_, _, _, M) in zip(_block_inputs(x, blocks, -1), blocks)]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def _apply_rows(x: Tensor, blocks: BlockedMatrix) -> Tensor:
    """``y[..., r, :] = sum_c M[r, c] x[..., c, :]`` (the operator acting on axis -2)."""
    parts = [M @ xb for xb, (_, _, _, M) in zip(_block_inputs(x, blocks, -2), blocks)]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-2)


def _apply_along(x: Tensor, blocks: BlockedMatrix, dim: int) -> Tensor:
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


@keyword_only_after(("x", "wavelet"), ("x", "wavelet", "mode", "dim"))
def dwt1d(x: Tensor, wavelet: str = "haar", *, mode: str = "jpeg2000", dim: int = -1) -> WaveletCoeffs1D:
    """One-level DWT along ``dim``: ``(..., n, ...) -> (low, high)``, each ``(..., m, ...)`` with
    ``m = band_length(n)``. Returns a :class:`WaveletCoeffs1D` (unpacks as ``low, high``) that
    remembers ``n``, ``dim``, the wavelet and the mode for :func:`idwt1d`."""
    check_tensor(x, "x", tuple(range(1, 9)), "(..., n, ...)")
    name = _resolve(wavelet, mode)
    dim = check_dim(dim, x)
    check_tensor(x, "x", x.dim(), "(..., n, ...)", nonempty=(dim,))
    n = x.shape[dim]
    if x.numel() == 0:  # an empty batch: empty bands of the right shape
        empty = x.new_zeros(*x.shape[:dim], band_length(n, name, mode), *x.shape[dim + 1 :])
        return WaveletCoeffs1D(empty, empty.clone(), size=n, dim=dim - x.dim(), wavelet=name, mode=mode)
    low, high = _analysis_along(x, operator(name, mode, n, x.device, x.dtype), dim)
    return WaveletCoeffs1D(low, high, size=n, dim=dim - x.dim(), wavelet=name, mode=mode)


@keyword_only_after(("low", "high", "wavelet"), ("low", "high", "wavelet", "mode", "dim", "size"))
def idwt1d(
    low: Tensor | WaveletCoeffs1D,
    high: Tensor | None = None,
    wavelet: str | None = None,
    *,
    mode: str | None = None,
    dim: int | None = None,
    size: int | None = None,
) -> Tensor:
    """Inverse of :func:`dwt1d`: ``idwt1d(coeffs)`` with the :class:`WaveletCoeffs1D` it returned
    (``idwt1d(coeffs, "haar")`` also works), or ``idwt1d(low, high, wavelet, size=n)``.

    ``wavelet``, ``mode``, ``dim`` and ``size`` default to what the coefficients carry (plain
    tensors: ``"haar"``, ``"jpeg2000"``, ``-1``, and ``size`` is required: bands of ``m``
    samples come from two possible lengths). A value that disagrees with the carried one is a
    ValueError."""
    carried: WaveletCoeffs1D | None = None
    if isinstance(low, WaveletCoeffs1D):
        if isinstance(high, str) and wavelet is None:
            wavelet, high = high, None
        if high is not None:
            raise TypeError("pass the WaveletCoeffs1D that dwt1d returned or (low, high), not both")
        carried, (low, high) = low, low
    elif high is None:
        raise TypeError("idwt1d needs the WaveletCoeffs1D that dwt1d returned, or both bands (low, high)")
    check_tensor(low, "low", tuple(range(1, 9)), "(..., m, ...)")
    check_tensor(high, "high", tuple(range(1, 9)), "(..., m, ...)")
    _check_same_dtype(high, low, "high")
    if high.shape != low.shape:
        raise ValueError(f"low and high bands must have the same shape, got {tuple(low.shape)} and {tuple(high.shape)}")
    if carried is not None:
        wavelet = _agree("wavelet", wavelet, carried.wavelet, canonical_name)
        mode = _agree("mode", mode, carried.mode)
        dim = _agree("dim", None if dim is None else check_dim(dim, low) - low.dim(), carried.dim)
        size = _agree("size", None if size is None else check_size(size, "size", 1)[0], carried.size)
    name = _resolve("haar" if wavelet is None else wavelet, "jpeg2000" if mode is None else mode)
    mode = "jpeg2000" if mode is None else mode
    dim = check_dim(-1 if dim is None else dim, low)
    m = low.shape[dim]
    if size is None:
        raise ValueError(
            f"idwt1d cannot know the signal length from plain bands of {m} samples (they come from "
            f"{_possible_lengths(m, name, mode)}): pass size=<input length> or the WaveletCoeffs1D that dwt1d returned"
        )
    n = check_size(size, "size", 1)[0]
    if band_length(n, name, mode) != m:
        raise ValueError(f"size {n} does not give bands of length {m} for {name!r}/{mode!r}")
    if low.numel() == 0:  # an empty batch
        return low.new_zeros(*low.shape[:dim], n, *low.shape[dim + 1 :])
    op = operator(name, mode, n, low.device, low.dtype)
    if isinstance(op, StepsOperator):
        return op.synthesis(low, high, n, dim)
    return _apply_along(torch.cat([low, high], dim=dim), op.S, dim)


def _check_same_dtype(t: Tensor, ref: Tensor, name: str) -> None:
    if t.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of the approximation band ({ref.dtype}), got {t.dtype}")


def _possible_lengths(m: int, wavelet: str, mode: str) -> str:
    """The input lengths whose bands have ``m`` samples, for an error message."""
    if mode in NON_EXPANSIVE_MODES:
        lengths = [n for n in (2 * m - 1, 2 * m) if n >= 1]
    else:
        L = filter_bank(wavelet).length
        lengths = [n for n in (2 * m - L + 1, 2 * m - L + 2) if n >= 1]
    return " or ".join(str(n) for n in lengths) + " samples"


def _agree(name: str, given: object, carried: object, canon=None) -> object:
    """The carried value of ``name``, checked against an explicitly given one."""
    if given is None:
        return carried
    if (canon(given) if canon else given) != carried:
        raise ValueError(f"{name}={given!r} disagrees with the coefficients, which were made with {name}={carried!r}")
    return carried


@keyword_only_after(("size", "wavelet"), ("size", "wavelet", "mode", "levels"))
def dwt2d_sizes(
    size: tuple[int, int], wavelet: str = "haar", *, levels: int = 1, mode: str = "jpeg2000"
) -> list[tuple[int, int]]:
    """Spatial sizes ``[(H0, W0), (H1, W1), ...]`` of the LL band at each level (level 0 = input)."""
    name = _resolve(wavelet, mode)
    check_positive_int(levels, "levels")
    sizes = [check_size(size, "size", 2)]
    for _ in range(levels):
        h, w = sizes[-1]
        sizes.append((band_length(h, name, mode), band_length(w, name, mode)))
    return sizes


def _analysis_along(x: Tensor, op: StepsOperator | MatrixOperator, dim: int) -> tuple[Tensor, Tensor]:
    """``(low, high)`` of one axis; the matrix path returns two views of one product."""
    if isinstance(op, StepsOperator):
        return op.analysis(x, dim)
    y = _apply_along(x, op.A, dim)
    low, high = y.split(_rows(op.A) // 2, dim)  # split: the backward is one cat, not two zero-fills
    return low, high


def _level_operators(name: str, mode: str, size: tuple[int, int], ref: Tensor) -> tuple[object, object]:
    """Operators of the H and W axes; matrices on both unless one tensor-free backend serves both."""
    native = native_level_operator(name, mode, size, ref)
    if native is not None:
        return native, native
    op_h = operator(name, mode, size[0], ref.device, ref.dtype)
    op_w = operator(name, mode, size[1], ref.device, ref.dtype)
    if isinstance(op_h, StepsOperator) and op_h == op_w:
        return op_h, op_w
    return tuple(
        operator_blocks(name, mode, int(n), ref.device, ref.dtype) for n in size
    )  # (A, S) block pairs


def _dwt2_level(x: Tensor, name: str, mode: str) -> tuple[Tensor, Tensor]:
    """One 2D level -> ``ll (..., mh, mw)`` and ``highs (..., 3, mh, mw)``."""
    op_h, op_w = _level_operators(name, mode, (x.shape[-2], x.shape[-1]), x)
    if isinstance(op_h, StepsOperator):
        return op_h.analysis2d(x)
    (Ah, _), (Aw, _) = op_h, op_w
    mh, mw = _rows(Ah) // 2, _rows(Aw) // 2
    y = _apply_rows(_apply_last(x, Aw), Ah)  # (..., 2mh, 2mw) in Mallat layout: [H band, W band]
    quads = y.unflatten(-1, (2, mw)).unflatten(-3, (2, mh))  # (..., H band, mh, W band, mw), a view
    return split_bands(quads.movedim(-2, -4).flatten(-4, -3))  # (..., 4 = W band * 2 + H band, mh, mw): one copy


def _idwt2_level(ll: Tensor, highs: Tensor, size: tuple[int, int], name: str, mode: str) -> Tensor:
    op_h, op_w = _level_operators(name, mode, size, ll)
    if isinstance(op_h, StepsOperator):
        return op_h.synthesis2d(ll, highs, size)
    (_, Sh), (_, Sw) = op_h, op_w
    ch, cv, cd = highs.unbind(-3)  # unbind: its backward is one stack (three selects: three zero-fills)
    y = torch.cat((torch.cat((ll, cv), dim=-1), torch.cat((ch, cd), dim=-1)), dim=-2)
    return _apply_rows(_apply_last(y, Sw), Sh)


@keyword_only_after(("x", "wavelet"), ("x", "wavelet", "levels", "mode"))
def dwt2d(x: Tensor, wavelet: str = "haar", *, levels: int = 1, mode: str = "jpeg2000") -> WaveletCoeffs2D:
    """Multi-level 2D DWT of ``x`` (..., H, W) -> ``(ll, [highs_level1, ..., highs_levelJ])``.

    Returns a :class:`WaveletCoeffs2D` (unpacks as ``ll, highs``); ``highs`` is a
    :class:`DetailBands` list that remembers ``(H, W)``, the wavelet and the mode, so
    ``idwt2d(ll, highs)`` restores odd sizes exactly."""
    check_tensor(x, "x", tuple(range(2, 9)), "(..., H, W)", nonempty=(-2, -1))
    check_positive_int(levels, "levels")
    name = _resolve(wavelet, mode)
    highs: list[Tensor] = []
    ll = x
    for _ in range(levels):
        ll, h = _dwt2_level(ll, name, mode)
        highs.append(h)
    bands = DetailBands(highs, size=(x.shape[-2], x.shape[-1]), wavelet=name, mode=mode)
    return WaveletCoeffs2D(ll.contiguous(), bands)


@keyword_only_after(("ll", "highs", "wavelet"), ("ll", "highs", "wavelet", "mode", "size"))
def idwt2d(
    ll: Tensor | WaveletCoeffs2D,
    highs: list[Tensor] | tuple[Tensor, ...] | None = None,
    wavelet: str | None = None,
    *,
    mode: str | None = None,
    size: tuple[int, int] | None = None,
) -> Tensor:
    """Inverse of :func:`dwt2d`: ``idwt2d(ll, highs)`` or ``idwt2d(coeffs)`` with what it returned
    (``idwt2d(coeffs, "haar")`` also works) -> ``(..., H, W)``.

    ``wavelet``, ``mode`` and ``size`` (the input's ``(H, W)``) default to what ``highs`` carries
    (a :class:`DetailBands`); for bands in a plain list or tuple they default to ``"haar"`` and
    ``"jpeg2000"``, and ``size`` is required, since bands of ``m`` samples come from two possible
    sizes. A value that disagrees with the carried one is a ValueError. Intermediate level sizes
    are read from the detail bands."""
    if isinstance(ll, WaveletCoeffs2D):
        if isinstance(highs, str) and wavelet is None:
            wavelet, highs = highs, None
        if highs is not None:
            raise TypeError("pass the WaveletCoeffs2D that dwt2d returned or (ll, highs), not both")
        ll, highs = ll
    check_tensor(ll, "ll", tuple(range(2, 9)), "(..., h, w)", nonempty=(-2, -1))
    if not isinstance(highs, (list, tuple)):
        raise TypeError(f"highs must be the list of detail bands that dwt2d returned, got {type(highs).__name__}")
    if len(highs) == 0:
        raise ValueError("highs must hold at least one level of detail bands")
    if size is not None:
        size = check_size(size, "size", 2)
    if isinstance(highs, DetailBands):
        wavelet = _agree("wavelet", wavelet, highs.wavelet, canonical_name)
        mode = _agree("mode", mode, highs.mode)
        size = _agree("size", size, highs.size)
    mode = "jpeg2000" if mode is None else mode
    name = _resolve("haar" if wavelet is None else wavelet, mode)
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
        elif size is None:
            raise ValueError(
                f"idwt2d cannot know the output size from detail bands in a plain {type(highs).__name__} "
                f"(level-1 bands of size {tuple(h.shape[-2:])} come from more than one input size): pass "
                f"size=(H, W) of the input, or the coefficients dwt2d returned (ll, highs) unchanged"
            )
        else:
            target = size
        for axis, (n, m) in enumerate(zip(target, x.shape[-2:])):
            if band_length(n, name, mode) != m:
                raise ValueError(
                    f"output size {target} is inconsistent with level-{j + 1} bands of size "
                    f"{tuple(x.shape[-2:])} for {name!r}/{mode!r} (axis {axis})"
                )
        x = _idwt2_level(x, h, target, name, mode)
    return x
