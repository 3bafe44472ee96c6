"""One-dimensional wavelet analysis/synthesis operators as exact float64 matrices.

Every transform in wavelayers is built from two matrices per axis length ``n``:

* ``A`` of shape ``(2m, n)``: analysis, rows ``[0, m)`` give the low band, ``[m, 2m)`` the high band;
* ``S`` of shape ``(n, 2m)``: synthesis, with ``S @ A == I`` (perfect reconstruction).

They are built once per (wavelet, mode, n) in float64 from the filter taps and the boundary
rule, then cached per device and dtype. Applying a transform is then a matrix product, so
autograd gives exact gradients and fp16/bf16, autocast and ``torch.compile`` work as for any
``matmul``.

Boundary modes
--------------
Expansive modes follow PyWavelets exactly (``m = floor((n + L - 1) / 2)``): ``zero``,
``constant``, ``symmetric`` (half-sample), ``reflect`` (whole-sample), ``periodic``,
``antisymmetric``, ``antireflect``, ``smooth``.

Non-expansive modes (``m = ceil(n / 2)``, what layers inside networks want):

* ``periodization`` -- PyWavelets' periodization (odd ``n``: the last sample is repeated).
* ``jpeg2000`` -- symmetric extension as in JPEG 2000 Part 1 (Annex F): whole-sample for
  odd-length symmetric filters (5/3, 9/7), half-sample for even-length ones (Haar). The low
  band sits on even samples and the high band on odd samples. For odd ``n`` the high band
  carries ``floor(n/2)`` true coefficients plus one final coefficient that is the mirror
  image the symmetric extension implies; it is redundant, and synthesis ignores it, so all
  sub-bands share the shape ``ceil(n/2)``.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pywt
import torch

from . import _filter, _lifting, _native
from ._filter import filter_supported
from ._lifting import lifting_supported
from .wavelets import FilterBank, _constant, _is_symmetric, _strip, canonical_name, filter_bank

__all__ = [
    "EXPANSIVE_MODES",
    "NON_EXPANSIVE_MODES",
    "MODES",
    "check_mode",
    "band_length",
    "analysis_matrix",
    "synthesis_matrix",
    "operator_pair",
    "operator_blocks",
    "BlockedMatrix",
    "DENSE_MAX",
    "BLOCK_ROWS",
    "BACKENDS",
    "use_backend",
    "native_level_operator",
    "choose_backend",
    "operator",
    "StepsOperator",
    "MatrixOperator",
    "clear_caches",
    "cache_info",
    "CACHE_SIZE",
]

# Axes up to DENSE_MAX samples use one dense matrix product (fastest for feature-map sizes);
# longer axes use row blocks of BLOCK_ROWS outputs, each multiplying only the input columns it
# touches, so the cost per output stays about BLOCK_ROWS + L instead of growing with n.
DENSE_MAX = 96
BLOCK_ROWS = 32
_ZERO = 1e-12  # smaller filter taps / matrix entries are rounding noise (PyWavelets' taps)

EXPANSIVE_MODES = (
    "zero",
    "constant",
    "symmetric",
    "reflect",
    "periodic",
    "antisymmetric",
    "antireflect",
    "smooth",
)
NON_EXPANSIVE_MODES = ("periodization", "jpeg2000")
MODES = NON_EXPANSIVE_MODES + EXPANSIVE_MODES


def check_mode(mode: str, wavelet: str) -> str:
    """Validate ``mode`` for ``wavelet``; return it unchanged."""
    if mode not in MODES:
        raise ValueError(f"unknown boundary mode {mode!r}: expected one of {MODES}")
    if mode == "jpeg2000" and filter_bank(wavelet).symmetric_extension is None:
        raise ValueError(
            f"mode 'jpeg2000' needs symmetric filters (haar, bior*/rbio*), but {wavelet!r} is not "
            "symmetric: use mode='periodization' for a non-expansive transform"
        )
    return mode


def band_length(n: int, wavelet: str, mode: str) -> int:
    """Length of each sub-band for an input of length ``n``."""
    if n < 1:
        raise ValueError(f"signal length must be >= 1, got {n}")
    if mode in NON_EXPANSIVE_MODES:
        return (n + 1) // 2
    return (n + _filter_length(wavelet) - 1) // 2


@_constant
def _filter_length(wavelet: str) -> int:
    return filter_bank(wavelet).length


def _reflect_index(i: np.ndarray, n: int, kind: str) -> np.ndarray:
    """Map indices of a symmetrically extended signal of length ``n`` into ``[0, n)``."""
    if n == 1:
        return np.zeros_like(i)
    if kind == "whole":
        period = 2 * n - 2
        i = np.mod(i, period)
        return np.where(i < n, i, period - i)
    period = 2 * n
    i = np.mod(i, period)
    return np.where(i < n, i, period - 1 - i)


def _analysis_pywt_mode(fb: FilterBank, mode: str, n: int) -> np.ndarray:
    """PyWavelets-compatible expansive analysis: extend by L-1, full convolution, keep odd taps."""
    L = fb.length
    m = (n + L - 1) // 2
    # PyWavelets extends a single sample as a constant in 'smooth' mode (no slope to follow).
    pad_mode = "constant" if (mode == "smooth" and n == 1) else mode
    ext = np.stack([pywt.pad(col, L - 1, pad_mode) for col in np.eye(n)], axis=1)  # (n+2L-2, n)
    rows = []
    for f in (fb.dec_lo, fb.dec_hi):
        full = np.stack([np.convolve(ext[:, j], f) for j in range(n)], axis=1)
        rows.append(full[L : L + 2 * m : 2])
    return np.concatenate(rows, axis=0)


def _analysis_non_expansive(fb: FilterBank, mode: str, n: int) -> np.ndarray:
    """Periodization / JPEG 2000 symmetric analysis: a[k] = sum_j f[j] x[2k + L/2 - j]."""
    L = fb.length
    m = (n + 1) // 2
    k = np.arange(m)[:, None]
    j = np.arange(L)[None, :]
    pos = 2 * k + L // 2 - j  # (m, L) sample positions in the extended signal
    if mode == "periodization":
        n_even = n + (n % 2)
        idx = np.mod(pos, n_even)
        idx = np.minimum(idx, n - 1)  # odd n: sample n is a copy of sample n - 1
    else:
        idx = _reflect_index(pos, n, fb.symmetric_extension)
    A = np.zeros((2 * m, n))
    for band, f in enumerate((fb.dec_lo, fb.dec_hi)):
        for jj in range(L):
            np.add.at(A, (band * m + np.arange(m), idx[:, jj]), f[jj])
    return A


def _synthesis_pywt_mode(fb: FilterBank, n: int) -> np.ndarray:
    """PyWavelets' ``idwt`` for expansive modes, from the taps: ``x[r] = sum_k c[k] f[r + L - 2 - 2k]``
    (upsample, full convolution, keep the centre), cropped to ``n`` rows."""
    L = fb.length
    m = (n + L - 1) // 2
    S = np.zeros((n, 2 * m))
    r, j = np.arange(n)[:, None], np.arange(L)[None, :]
    two_k = r + L - 2 - j  # the band sample that tap j of row r meets, times two
    rows, taps = np.nonzero((two_k % 2 == 0) & (two_k >= 0) & (two_k < 2 * m))
    for band, f in enumerate((fb.rec_lo, fb.rec_hi)):
        S[rows, band * m + two_k[rows, taps] // 2] = f[taps]
    return S


def _centre(f: np.ndarray) -> float:
    """Index of the symmetry centre of a (zero-padded) symmetric or antisymmetric filter."""
    nz = np.flatnonzero(np.abs(f) > _ZERO)
    return (nz[0] + nz[-1]) / 2


def _fold_band(k: np.ndarray, dec: np.ndarray, n: int, extension: str) -> tuple[np.ndarray, np.ndarray]:
    """Band samples ``k`` (any integers) of the band made by ``dec`` -> ``(index in [0, m), sign)``.

    Symmetric extension of the signal (``extension``: "whole", about samples 0 and n-1, or "half",
    about -1/2 and n-1/2) extends each band by reflection about the same axes: sample ``k`` sits at
    position ``2k + L/2 - centre(dec)`` and takes the value of the in-range sample at the mirrored
    position, negated for an antisymmetric filter per reflection. Sign 0: the sample lies on an axis
    and its filter is antisymmetric, so it is 0 (Haar's last high coefficient for odd ``n``).
    Positions are counted in half samples so that every quantity is an integer.
    """
    L = len(dec)
    offset = L - int(round(2 * _centre(dec)))  # 2 * (L/2 - centre)
    anti = not _is_symmetric(_strip(dec))
    sign_per_reflection = -1.0 if anti else 1.0
    a0, a1 = (0, 2 * (n - 1)) if extension == "whole" else (-1, 2 * n - 1)
    half_period = a1 - a0
    P = 4 * k + offset - a0
    reflections = np.floor_divide(P, half_period)
    r = np.mod(P, 2 * half_period)
    r = np.where(r > half_period, 2 * half_period - r, r)
    sign = np.where(reflections % 2 == 1, sign_per_reflection, 1.0)
    on_axis = (r == 0) | (r == half_period)
    sign = np.where(on_axis, 0.0 if anti else 1.0, sign)
    return (r + a0 - offset) // 4, sign


def _synthesis_non_expansive(fb: FilterBank, mode: str, n: int) -> np.ndarray:
    """Periodization / JPEG 2000 synthesis ``(n, 2m)`` from the synthesis taps in O(nL), no inverse.

    Row ``i`` is ``x[i] = sum_b sum_k band_b[k] * g_b[2k + L/2 - i]`` with ``g_b`` the reversed
    synthesis filter of band ``b`` (the dual of the analysis rule ``a[k] = sum_j f[j] x[2k + L/2 - j]``)
    and the band samples beyond the ends given by the boundary rule: periodic for periodization
    (odd ``n``: PyWavelets inverts the ``n + 1`` transform and drops the copy), reflected as the signal
    is for JPEG 2000 (:func:`_fold_band`). The redundant high coefficient of odd ``n`` (JPEG 2000) is
    never reached, so synthesis ignores it.
    """
    if mode == "periodization" and n % 2 == 1:
        return _synthesis_non_expansive(fb, mode, n + 1)[:n]
    L, m = fb.length, (n + 1) // 2
    S = np.zeros((n, 2 * m))
    if n == 1:  # a constant: the low band is sum(dec_lo) * x, the high band 0
        S[0, 0] = 1.0 / fb.dec_lo.sum()
        return S
    i, j = np.arange(n)[:, None], np.arange(L)[None, :]
    two_k = i + j - L // 2
    for band, (dec, rec) in enumerate(((fb.dec_lo, fb.rec_lo), (fb.dec_hi, fb.rec_hi))):
        taps = rec[::-1]
        rows, cols = np.nonzero((two_k % 2 == 0) & (np.abs(taps) > _ZERO)[None, :])
        k = two_k[rows, cols] // 2
        if mode == "periodization":
            index, sign = np.mod(k, m), np.ones(len(k))
        else:
            index, sign = _fold_band(k, dec, n, fb.symmetric_extension)
        np.add.at(S, (rows, band * m + index), sign * taps[cols])
    return S


def _check_inverse(A: np.ndarray, S: np.ndarray, wavelet: str, mode: str) -> None:
    """Raise unless ``S @ A == I`` (to 1e-9), in row blocks restricted to their non-zero columns, so the
    check costs O(n L^2) for banded operators instead of a dense O(n^3) product."""
    n = A.shape[1]
    err = 0.0
    for r0 in range(0, n, BLOCK_ROWS):
        rows = S[r0 : r0 + BLOCK_ROWS]
        mid = np.flatnonzero(np.abs(rows).max(axis=0) > 0)
        cols = np.flatnonzero(np.abs(A[mid]).max(axis=0) > 0) if len(mid) else np.zeros(0, dtype=int)
        product = rows[:, mid] @ A[np.ix_(mid, cols)]
        target = (cols[None, :] == np.arange(r0, r0 + len(rows))[:, None]).astype(float)
        missing = len(rows) - int(target.sum())  # a row whose diagonal column is not even reached
        err = max(err, np.abs(product - target).max(initial=0.0), float(missing))
    if not err < 1e-9:
        raise ValueError(
            f"wavelet {wavelet!r} with mode {mode!r} is not perfectly reconstructing for length {n} "
            f"(max error {err:.2e}); use mode='periodization'"
        )


@lru_cache(maxsize=512)
def _matrices(wavelet: str, mode: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    fb = filter_bank(wavelet)
    m = band_length(n, wavelet, mode)
    if mode in EXPANSIVE_MODES:
        A = _analysis_pywt_mode(fb, mode, n)
        S = _synthesis_pywt_mode(fb, n)
    else:
        A = _analysis_non_expansive(fb, mode, n)
        S = _synthesis_non_expansive(fb, mode, n)
    _check_inverse(A, S, wavelet, mode)
    assert A.shape == (2 * m, n)
    A.setflags(write=False)
    S.setflags(write=False)
    return A, S


def analysis_matrix(wavelet: str, mode: str, n: int) -> np.ndarray:
    """The float64 analysis matrix ``(2m, n)``: low band rows first, then high band rows."""
    wavelet = canonical_name(wavelet)
    check_mode(mode, wavelet)
    return _matrices(wavelet, mode, int(n))[0]


def synthesis_matrix(wavelet: str, mode: str, n: int) -> np.ndarray:
    """The float64 synthesis matrix ``(n, 2m)`` with ``S @ A == I``."""
    wavelet = canonical_name(wavelet)
    check_mode(mode, wavelet)
    return _matrices(wavelet, mode, int(n))[1]


class LRUCache:
    """A bounded least-recently-used cache of operator tensors; every instance is cleared by
    :func:`clear_caches` and reported by :func:`cache_info`."""

    def __init__(self, name: str, maxsize: int) -> None:
        self.name, self.maxsize = name, maxsize
        self._data: OrderedDict[tuple, object] = OrderedDict()
        self.hits = self.misses = 0
        _REGISTRY.append(self)

    def get(self, key: tuple, build: Callable[[], object]) -> object:
        """The value for ``key``, built (and the oldest entry evicted past ``maxsize``) on a miss."""
        if key in self._data:
            self.hits += 1
            self._data.move_to_end(key)
            return self._data[key]
        self.misses += 1
        value = build()
        self._data[key] = value
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        self._data.clear()
        self.hits = self.misses = 0

    def info(self) -> dict[str, int]:
        return dict(size=len(self._data), maxsize=self.maxsize, hits=self.hits, misses=self.misses)


_REGISTRY: list[LRUCache] = []
_CLEAR_HOOKS: list[Callable[[], None]] = [_filter._taps_cached.cache_clear]  # caches of other modules
CACHE_SIZE = 64  # entries per cache: (wavelet, mode, n, device, dtype) keys
_PAIR_CACHE = LRUCache("operator_pair", CACHE_SIZE)


def clear_caches() -> None:
    """Drop every cached operator (float64 NumPy matrices and device tensors) to free memory."""
    _matrices.cache_clear()
    for clear in _CLEAR_HOOKS:
        clear()
    for cache in _REGISTRY:
        cache.clear()


def cache_info() -> dict[str, dict[str, int]]:
    """``{cache name: {size, maxsize, hits, misses}}`` for every operator cache."""
    info = _matrices.cache_info()
    out = {"matrices (float64)": dict(size=info.currsize, maxsize=info.maxsize, hits=info.hits, misses=info.misses)}
    out.update({cache.name: cache.info() for cache in _REGISTRY})
    return out


def _tensor_pair(wavelet: str, mode: str, n: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    A, S = _matrices(wavelet, mode, n)
    return (
        torch.tensor(A, dtype=torch.float64).to(device=device, dtype=dtype),
        torch.tensor(S, dtype=torch.float64).to(device=device, dtype=dtype),
    )


@_constant
def _operator_pair_cached(
    wavelet: str, mode: str, n: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    key = (wavelet, mode, n, device, dtype)
    return _PAIR_CACHE.get(key, lambda: _tensor_pair(*key))


def operator_pair(
    wavelet: str, mode: str, n: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Analysis and synthesis matrices as tensors (cached per device/dtype; not trainable)."""
    return _operator_pair_cached(wavelet, mode, int(n), torch.device(device), dtype)


Block = tuple[int, int, tuple[tuple[int, int], ...], torch.Tensor]


def _runs(cols: np.ndarray, min_gap: int = 16) -> tuple[tuple[int, int], ...]:
    """Sorted column indices -> maximal ``[c0, c1)`` runs (runs closer than ``min_gap`` merge)."""
    if len(cols) == 0:
        return ((0, 1),)
    runs = [[int(cols[0]), int(cols[0]) + 1]]
    for c in cols[1:]:
        if c - runs[-1][1] < min_gap:
            runs[-1][1] = int(c) + 1
        else:
            runs.append([int(c), int(c) + 1])
    return tuple((a, b) for a, b in runs)


def _block_ranges(M: np.ndarray) -> list[tuple[int, int, tuple[tuple[int, int], ...]]]:
    """Row blocks ``(r0, r1, column runs)`` of ``M`` covering every non-zero entry.

    Analysis rows are ``[low; high]`` and synthesis columns are ``[low | high]``, so a row block
    of a banded operator touches one or two short column runs (three with periodic wrap-around).
    """
    p, q = M.shape
    if max(p, q) <= DENSE_MAX:
        return [(0, p, ((0, q),))]
    nonzero = np.abs(M) > _ZERO
    return [
        (r0, min(p, r0 + BLOCK_ROWS), _runs(np.flatnonzero(nonzero[r0 : r0 + BLOCK_ROWS].any(axis=0))))
        for r0 in range(0, p, BLOCK_ROWS)
    ]


class BlockedMatrix(tuple):
    """An operator as a tuple of row blocks ``(r0, r1, column runs, M[r0:r1, runs])``, plus
    ``gather``: the column runs of all blocks concatenated (an index tensor; ``None`` for one dense
    block over every column) and ``widths``, the number of gathered columns of each block."""

    gather: torch.Tensor | None
    widths: tuple[int, ...]

    def __new__(cls, blocks: list[Block], n_cols: int, device: torch.device) -> BlockedMatrix:
        self = super().__new__(cls, blocks)
        runs = [run for _, _, block_runs, _ in blocks for run in block_runs]
        self.widths = tuple(sum(c1 - c0 for c0, c1 in block_runs) for _, _, block_runs, _ in blocks)
        if runs == [(0, n_cols)]:
            self.gather = None
        else:
            index = np.concatenate([np.arange(c0, c1) for c0, c1 in runs])
            self.gather = torch.tensor(index, dtype=torch.long, device=device)
        return self


def _to_blocks(M: np.ndarray, device: torch.device, dtype: torch.dtype) -> BlockedMatrix:
    M = np.where(np.abs(M) > _ZERO, M, 0.0)
    blocks = []
    for r0, r1, runs in _block_ranges(M):
        part = np.concatenate([M[r0:r1, c0:c1] for c0, c1 in runs], axis=1)
        blocks.append((r0, r1, runs, torch.tensor(part, dtype=torch.float64).to(device=device, dtype=dtype)))
    return BlockedMatrix(blocks, M.shape[1], device)


_BLOCK_CACHE = LRUCache("operator_blocks", CACHE_SIZE)


@_constant
def _operator_blocks_cached(
    wavelet: str, mode: str, n: int, device: torch.device, dtype: torch.dtype
) -> tuple[BlockedMatrix, BlockedMatrix]:
    def build() -> tuple[BlockedMatrix, BlockedMatrix]:
        A, S = _matrices(wavelet, mode, n)
        return _to_blocks(A, device, dtype), _to_blocks(S, device, dtype)

    return _BLOCK_CACHE.get((wavelet, mode, n, device, dtype), build)


def operator_blocks(
    wavelet: str, mode: str, n: int, device: torch.device, dtype: torch.dtype
) -> tuple[BlockedMatrix, BlockedMatrix]:
    """Analysis and synthesis operators as row blocks ``(r0, r1, column runs, M[r0:r1, runs])``.

    One dense block for axes of up to ``DENSE_MAX`` samples; banded row blocks beyond.
    """
    return _operator_blocks_cached(wavelet, mode, int(n), torch.device(device), dtype)


# --------------------------------------------------------------------------------------------------
# the backend seam: one operator object per (wavelet, mode, n, device, dtype)

BACKENDS = ("auto", "native", "filter", "lifting", "matrix")
NATIVE_MIN_PIXELS = 256  # "auto" uses the native kernels on planes of at least 16 x 16 samples
_preference = "auto"


@contextmanager
def use_backend(backend: str) -> Iterator[None]:
    """Within the block, transforms use ``backend``: ``"auto"`` (the default rule, see
    :func:`choose_backend`), ``"native"``, ``"filter"`` or ``"lifting"`` (where they exist and apply,
    matrices elsewhere) or ``"matrix"`` (dense / banded matrices everywhere)."""
    global _preference
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {BACKENDS}")
    previous, _preference = _preference, backend
    try:
        yield
    finally:
        _preference = previous


def lifting_preferred() -> bool:
    """Whether tensor-free backends (filter, lifting) are preferred here and now: under
    ``use_backend("filter" | "lifting")``, or ``"auto"`` inside ``torch.compile`` / ``torch.export``."""
    return _preference in ("filter", "lifting") or (_preference == "auto" and torch.compiler.is_compiling())


def choose_backend(wavelet: str, mode: str, n: int) -> str:
    """``"filter"``, ``"lifting"``, ``"dense"`` or ``"banded"`` for an axis of ``n`` samples.

    The rule (docs/design.md, "Transform backends"; figures in docs/benchmarks.md): ``"auto"`` uses
    the matrices eagerly, one dense product up to ``DENSE_MAX`` samples and banded row blocks beyond:
    on the 2-core CPU a few large GEMMs beat every formulation made of many small kernels
    (``benchmarks/bench_formulations.py``). Under ``torch.compile`` / ``torch.export`` it picks the
    tensor-free backends, which keep lengths symbolic: lifting steps where they exist (Haar, 5/3,
    9/7), else the polyphase filter (periodization with any wavelet, other odd-length symmetric
    filters in jpeg2000), else the matrices (specialised to each length)."""
    if lifting_preferred():
        if _preference in ("auto", "lifting") and lifting_supported(wavelet, mode, n):
            return "lifting"
        if _preference in ("auto", "filter") and filter_supported(wavelet, mode, n):
            return "filter"
    return "dense" if n <= DENSE_MAX else "banded"


@dataclass(frozen=True)
class StepsOperator:
    """A backend without operator tensors (nothing to cache; symbolic lengths welcome): the module
    ``impl`` (:mod:`wavelayers._native`, :mod:`wavelayers._filter` or :mod:`wavelayers._lifting`) does
    the arithmetic; the native one has 2D levels only (:func:`native_level_operator`)."""

    wavelet: str
    mode: str
    backend: str

    @property
    def impl(self):
        return {"native": _native, "filter": _filter, "lifting": _lifting}[self.backend]

    def analysis(self, x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` with ``n`` samples along ``dim`` -> ``(low, high)``, each ``m`` samples."""
        return self.impl.analysis(x, dim, self.wavelet, self.mode)

    def synthesis(self, low: torch.Tensor, high: torch.Tensor, n: int, dim: int) -> torch.Tensor:
        """Bands of ``m`` samples along ``dim`` -> ``n`` samples."""
        return self.impl.synthesis(low, high, n, dim, self.wavelet, self.mode)

    def analysis2d(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One level on the last two axes -> ``ll (..., mh, mw)``, ``highs (..., 3, mh, mw)``
        (``[cH, cV, cD]``)."""
        return self.impl.analysis2d(x, self.wavelet, self.mode)

    def synthesis2d(self, ll: torch.Tensor, highs: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Inverse of :meth:`analysis2d` for an input of ``size``."""
        return self.impl.synthesis2d(ll, highs, size, self.wavelet, self.mode)



def native_level_operator(wavelet: str, mode: str, size: tuple[int, int], x: torch.Tensor) -> StepsOperator | None:
    """The native operator of one 2D level of ``x`` (``size`` = its ``(H, W)``), or None where it does
    not apply: eagerly under ``"auto"`` / ``"native"``, for what :func:`wavelayers._native.supports`.

    First in the rule (docs/design.md, "Transform backends"): one C pass per plane beats the
    matrices' two GEMMs per axis from planes of ``NATIVE_MIN_PIXELS`` up (2-6x at 32x32 and above);
    on smaller planes ``"auto"`` keeps the matrices (batched tiny GEMMs win there), ``"native"`` does not."""
    if _preference not in ("auto", "native"):
        return None
    if _preference == "auto" and size[0] * size[1] < NATIVE_MIN_PIXELS:
        return None
    if not _native.supports(wavelet, mode, size, x):
        return None
    return StepsOperator(wavelet, mode, "native")


@dataclass(frozen=True)
class MatrixOperator:
    """The exact matrices as row blocks (:func:`operator_blocks`): one dense block or banded blocks."""

    A: BlockedMatrix
    S: BlockedMatrix
    backend: str


def operator(
    wavelet: str, mode: str, n: int, device: torch.device, dtype: torch.dtype
) -> StepsOperator | MatrixOperator:
    """The operator of one axis of ``n`` samples (``wavelet`` canonical, ``mode`` checked), by
    :func:`choose_backend`. Matrix operators come from a bounded cache (:func:`cache_info`)."""
    backend = choose_backend(wavelet, mode, n)
    if backend in ("filter", "lifting"):
        return StepsOperator(wavelet, mode, backend)
    # A length that torch.compile made symbolic is specialised here: matrices need a concrete n.
    A, S = operator_blocks(wavelet, mode, int(n), device, dtype)
    return MatrixOperator(A, S, backend)
