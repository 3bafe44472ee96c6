"""Native backend: one 2D lifting level per call in C (``wavelayers/csrc/lifting2d.c``), eager CPU only.

The C kernels follow :mod:`wavelayers._lifting` step for step (Haar, 5/3, 9/7; ``jpeg2000`` and
``periodization``; odd sizes), but finish each ``(H, W)`` plane while it sits in cache: rows are split
and lifted along W, written straight into the rows of the band they belong to, then both W bands are
lifted along H in place and scaled. Planes are spread over ``torch.get_num_threads()`` threads.

The library compiles the source on first use with the system C compiler (``$CC``, else ``cc``) into a
per-user cache (``$WAVELAYERS_CACHE/native``, default ``~/.cache/wavelayers/native``), named by a hash of
the source, the flags and the CPU, and loads it with :mod:`ctypes`. Without a compiler, or with
``WAVELAYERS_NATIVE=0``, :func:`available` is False and the transforms use the other backends.

Autograd: the four operators (analysis ``A``, its transpose ``Aᵀ``, synthesis ``S``, ``Sᵀ``) are linear,
so each one's backward is its transpose and its forward-mode derivative is itself; gradients of any
order are exact.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
from pathlib import Path

import torch
from torch import Tensor

from ._lifting import SCHEMES, lifting_supported

__all__ = ["available", "status", "supports", "analysis2d", "synthesis2d"]

_SOURCE_DIR = Path(__file__).parent / "csrc"
_SOURCES = ("lifting2d.c", "lifting2d_impl.h")
_FLAGS = ("-O3", "-std=c99", "-shared", "-fPIC", "-pthread")
_DTYPES = {torch.float32: 0, torch.float64: 1}
_OPS = {"analysis": 0, "analysis_t": 1, "synthesis": 2, "synthesis_t": 3}
_VALUES_PER_THREAD = 1 << 16

_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_status: str | None = None  # None: not tried yet; "ok" or why the backend is unavailable


def _cache_dir() -> Path:
    root = os.environ.get("WAVELAYERS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "wavelayers")
    return Path(root) / "native"


def _cpu_signature() -> str:
    """The CPU's feature flags (``-march=native`` code must not run on another CPU)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compile(compiler: str, out: Path, march: bool):
    import subprocess

    flags = [*_FLAGS, "-march=native"] if march else list(_FLAGS)
    source = str(_SOURCE_DIR / "lifting2d.c")
    try:
        return subprocess.run([compiler, *flags, source, "-o", str(out)], capture_output=True, text=True, timeout=120)
    except subprocess.SubprocessError as exc:  # a compiler that hangs
        raise RuntimeError(f"{compiler} did not finish: {exc}") from exc


def _build() -> Path:
    """The compiled library's path, compiling it (atomically) if the cache lacks it."""
    import hashlib
    import shutil
    import tempfile

    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C compiler: {compiler!r} is not on PATH (set CC)")
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_SOURCE_DIR / name).read_bytes())
    digest.update(" ".join((compiler, *_FLAGS, _cpu_signature(), sys.platform)).encode())
    cache = _cache_dir()
    target = cache / f"lifting2d-{digest.hexdigest()[:16]}.so"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".lifting2d-", suffix=".so", dir=cache)
    os.close(fd)
    try:
        result = _compile(compiler, Path(tmp), march=True)
        if result.returncode != 0:  # a compiler without -march=native
            result = _compile(compiler, Path(tmp), march=False)
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} failed on {_SOURCE_DIR / 'lifting2d.c'}:\n{result.stderr[-2000:]}")
        os.replace(tmp, target)  # atomic: a concurrent process sees no half-written library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _load() -> ctypes.CDLL | None:
    global _library, _status
    if _status is not None:
        return _library
    with _lock:
        if _status is not None:
            return _library
        if os.environ.get("WAVELAYERS_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
            _status = "disabled by WAVELAYERS_NATIVE"
            return None
        try:
            lib = ctypes.CDLL(str(_build()))
            fn = lib.wl_lifting2d
            fn.restype = ctypes.c_int
            i64, ptr = ctypes.c_int64, ctypes.c_void_p
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ptr, ptr, ptr, ptr, i64, i64, i64, i64, i64, ctypes.c_int,
                           ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double), ctypes.c_int,
                           ctypes.c_int, ctypes.c_double, ctypes.c_double, ctypes.c_int]
            _library, _status = lib, "ok"
        except (OSError, RuntimeError) as exc:
            _library, _status = None, f"unavailable: {exc}"
    return _library


def available() -> bool:
    """Whether the native kernels are compiled and loaded (compiles them on the first call)."""
    return _load() is not None


def status() -> str:
    """``"ok"``, or why the native backend is unavailable (compiles on the first call)."""
    _load()
    return str(_status)


def supports(wavelet: str, mode: str, size: tuple[int, int], x: Tensor) -> bool:
    """Whether the native kernels can run one 2D level of ``x`` here: a plain strided CPU tensor in
    float32 / float64, outside autocast, ``torch.compile``, tracing and functorch transforms, for
    Haar / 5/3 / 9/7 in ``jpeg2000`` / ``periodization`` with both sides of at least 2 samples."""
    return (
        not torch.compiler.is_compiling()
        and lifting_supported(wavelet, mode, size[0])
        and lifting_supported(wavelet, mode, size[1])
        and x.device.type == "cpu"
        and x.dtype in _DTYPES
        and x.layout == torch.strided
        and not x.is_neg()
        and type(x) in (Tensor, torch.nn.Parameter)
        and not torch._C._functorch.is_functorch_wrapped_tensor(x)
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and available()
    )


def _planes(t: Tensor, plane: tuple[int, ...]) -> tuple[Tensor, int]:
    """``t`` as planes of shape ``plane`` (each contiguous, evenly spaced) and the spacing in values;
    copies only when the layout is not of that kind."""
    size = 1
    for s in plane:
        size *= s
    flat = t.reshape(-1, *plane) if t.numel() else t.new_empty((0, *plane))
    inner = flat[0] if flat.shape[0] else None
    if inner is None or not inner.is_contiguous() or (flat.shape[0] > 1 and flat.stride(0) < size):
        flat = flat.contiguous()
    return flat, (flat.stride(0) if flat.shape[0] > 1 else size)


@functools.lru_cache(maxsize=None)
def _scheme_args(wavelet: str) -> tuple:
    """The lifting scheme of ``wavelet`` as the C function's arguments (steps, parities, coefficients,
    two taps, low and high scale)."""
    scheme = SCHEMES[wavelet]
    n = len(scheme.steps)
    parity = (ctypes.c_int * n)(*(p for p, _ in scheme.steps))
    coef = (ctypes.c_double * n)(*(c for _, c in scheme.steps))
    return n, parity, coef, int(scheme.two_taps), scheme.low_scale, scheme.high_scale


def _call(op: str, a: Tensor, b: Tensor | None, outs: tuple[Tensor, ...], planes: int, size: tuple[int, int],
          wavelet: str, mode: str, a_stride: int, b_stride: int) -> None:
    lib = _load()
    if lib is None:
        raise RuntimeError(f"the native backend is {_status}")
    n, parity, coef, two_taps, low, high = _scheme_args(wavelet)
    # threads only where each gets at least _VALUES_PER_THREAD values: starting one costs ~20-50 us
    threads = max(1, min(torch.get_num_threads(), outs[0].numel() // _VALUES_PER_THREAD))
    c = outs[0].data_ptr()
    d = outs[1].data_ptr() if len(outs) > 1 else None
    rc = lib.wl_lifting2d(
        _OPS[op], _DTYPES[a.dtype], a.data_ptr(), None if b is None else b.data_ptr(), c, d, a_stride, b_stride,
        planes, size[0], size[1], n, parity, coef, two_taps, int(mode == "periodization"), low, high, threads,
    )
    if rc != 0:
        raise MemoryError(f"native {op} of {planes} planes of {size}: the kernel could not allocate its work space")


def _band_shape(size: tuple[int, int]) -> tuple[int, int]:
    return (size[0] + 1) // 2, (size[1] + 1) // 2


def _plane_to_bands(op: str, x: Tensor, size: tuple[int, int], wavelet: str, mode: str) -> tuple[Tensor, Tensor]:
    """``A`` or ``Sᵀ``: ``x (..., H, W)`` -> ``ll (..., mh, mw)``, ``highs (..., 3, mh, mw)``, two buffers
    (so autograd's backward needs no cat of their gradients)."""
    mh, mw = _band_shape(size)
    flat, stride = _planes(x, size)
    ll = x.new_empty((flat.shape[0], mh, mw))
    highs = x.new_empty((flat.shape[0], 3, mh, mw))
    _call(op, flat, None, (ll, highs), flat.shape[0], size, wavelet, mode, stride, 0)
    lead = x.shape[:-2]
    return ll.reshape(*lead, mh, mw), highs.reshape(*lead, 3, mh, mw)


def _bands_to_plane(op: str, ll: Tensor, highs: Tensor, size: tuple[int, int], wavelet: str, mode: str) -> Tensor:
    """``S`` or ``Aᵀ``: ``ll (..., mh, mw)``, ``highs (..., 3, mh, mw)`` -> ``(..., H, W)``."""
    if highs.device != ll.device or highs.dtype != ll.dtype or highs.is_neg():
        raise ValueError(f"highs must match ll's device and dtype ({ll.device}, {ll.dtype}), "
                         f"got {highs.device}, {highs.dtype}")
    mh, mw = _band_shape(size)
    flat_ll, ll_stride = _planes(ll, (mh, mw))
    flat_h, h_stride = _planes(highs, (3, mh, mw))
    out = ll.new_empty((flat_ll.shape[0], *size))
    _call(op, flat_ll, flat_h, (out,), flat_ll.shape[0], size, wavelet, mode, ll_stride, h_stride)
    return out.reshape(*ll.shape[:-2], *size)


def _zeros_for(t_ll: Tensor | None, t_highs: Tensor | None) -> tuple[Tensor, Tensor]:
    """Forward-mode tangents of (ll, highs) with a missing one as zeros."""
    if t_ll is None:
        t_ll = torch.zeros((*t_highs.shape[:-3], *t_highs.shape[-2:]), dtype=t_highs.dtype)
    if t_highs is None:
        t_highs = torch.zeros((*t_ll.shape[:-2], 3, *t_ll.shape[-2:]), dtype=t_ll.dtype)
    return t_ll, t_highs


class _A(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, size, wavelet, mode):
        ctx.spec = (size, wavelet, mode)
        return _plane_to_bands("analysis", x, size, wavelet, mode)

    @staticmethod
    def backward(ctx, g_ll, g_highs):  # unused outputs arrive as zeros (materialize_grads)
        return _AT.apply(g_ll, g_highs, *ctx.spec), None, None, None

    @staticmethod
    def jvp(ctx, t, *_):
        return _plane_to_bands("analysis", t, *ctx.spec)


class _AT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g_ll, g_highs, size, wavelet, mode):
        ctx.spec = (size, wavelet, mode)
        return _bands_to_plane("analysis_t", g_ll, g_highs, size, wavelet, mode)

    @staticmethod
    def backward(ctx, x):
        g_ll, g_highs = _A.apply(x, *ctx.spec)
        return g_ll, g_highs, None, None, None

    @staticmethod
    def jvp(ctx, t_ll, t_highs, *_):
        return _bands_to_plane("analysis_t", *_zeros_for(t_ll, t_highs), *ctx.spec)


class _S(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ll, highs, size, wavelet, mode):
        ctx.spec = (size, wavelet, mode)
        return _bands_to_plane("synthesis", ll, highs, size, wavelet, mode)

    @staticmethod
    def backward(ctx, g):
        g_ll, g_highs = _ST.apply(g, *ctx.spec)
        return g_ll, g_highs, None, None, None

    @staticmethod
    def jvp(ctx, t_ll, t_highs, *_):
        return _bands_to_plane("synthesis", *_zeros_for(t_ll, t_highs), *ctx.spec)


class _ST(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g, size, wavelet, mode):
        ctx.spec = (size, wavelet, mode)
        return _plane_to_bands("synthesis_t", g, size, wavelet, mode)

    @staticmethod
    def backward(ctx, g_ll, g_highs):  # unused outputs arrive as zeros (materialize_grads)
        return _S.apply(g_ll, g_highs, *ctx.spec), None, None, None

    @staticmethod
    def jvp(ctx, t, *_):
        return _plane_to_bands("synthesis_t", t, *ctx.spec)


def analysis2d(x: Tensor, wavelet: str, mode: str) -> tuple[Tensor, Tensor]:
    """One 2D level on the last two axes -> ``ll (..., mh, mw)`` and ``highs (..., 3, mh, mw)``
    (``[cH, cV, cD]``), each in its own buffer."""
    size = (int(x.shape[-2]), int(x.shape[-1]))
    return _A.apply(x, size, wavelet, mode)


def synthesis2d(ll: Tensor, highs: Tensor, size: tuple[int, int], wavelet: str, mode: str) -> Tensor:
    """Inverse of :func:`analysis2d` from ``ll`` ``(..., mh, mw)`` and ``highs`` ``(..., 3, mh, mw)``."""
    return _S.apply(ll, highs, (int(size[0]), int(size[1])), wavelet, mode)
