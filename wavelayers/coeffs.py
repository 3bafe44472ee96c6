"""Coefficient containers that remember the transform that made them.

An inverse DWT cannot tell from the bands alone how long the input was: bands of ``m`` samples
come from ``2m`` or ``2m - 1`` samples (non-expansive modes), and the wrong choice gives a
silently wrong reconstruction (jpeg2000 at odd sizes). So the forward transforms return these
containers, and the inverses read the size, wavelet and mode from them:

* :class:`WaveletCoeffs2D` -- ``dwt2d`` / ``DWT2D`` / ``DWT3D``: a 2-tuple ``(ll, highs)``, so
  ``ll, highs = dwt2d(x)`` still works; ``highs`` is a :class:`DetailBands` list that carries
  the same facts, so ``idwt2d(ll, highs)`` is exact after unpacking too.
* :class:`WaveletCoeffs1D` -- ``dwt1d`` / ``DWT1D``: a 2-tuple ``(low, high)``; after unpacking
  the two plain tensors no longer know the length, so pass the container (``idwt1d(coeffs)``)
  or ``size=``.

A list built from the bands (``[f(h) for h in highs]``) is a plain list and carries nothing; its
inverse needs ``size=`` (e.g. ``size=coeffs.size``). No inverse ever guesses a size.
"""
from __future__ import annotations

from torch import Tensor
from torch.utils import _pytree as pytree

__all__ = ["DetailBands", "WaveletCoeffs1D", "WaveletCoeffs2D"]


def _slot(index: int, doc: str) -> property:
    """A read-only named accessor for tuple slot ``index``, as ``collections.namedtuple`` makes (a
    Python getter, which torch.compile traces; ``operator.itemgetter`` it cannot)."""
    return property(lambda self: self[index], doc=doc)


class DetailBands(list):
    """Detail bands of a multi-level 2D DWT, finest level first: ``highs[j]`` is
    ``(..., 3, h_{j+1}, w_{j+1})``. A ``list`` that also records the transform.

    Attributes:
        size: ``(H, W)`` of the transformed input.
        wavelet, mode: the canonical wavelet name and boundary mode used.
    """

    def __init__(self, bands: list[Tensor], *, size: tuple[int, int], wavelet: str, mode: str) -> None:
        super().__init__(bands)
        self.size = (int(size[0]), int(size[1]))
        self.wavelet = wavelet
        self.mode = mode

    def __repr__(self) -> str:
        return f"DetailBands({len(self)} levels, size={self.size}, wavelet={self.wavelet!r}, mode={self.mode!r})"


class WaveletCoeffs2D(tuple):
    """``(ll, highs)`` of a multi-level 2D DWT; unpacks as a 2-tuple.

    ``ll``: ``(..., h_J, w_J)``; ``highs``: a :class:`DetailBands` list. ``size``, ``wavelet``,
    ``mode`` (read from ``highs``) and ``levels`` (``len(highs)``) describe the transform, as built.
    """

    ll = _slot(0, "The coarsest LL band, ``(..., h_J, w_J)``.")
    highs = _slot(1, "The :class:`DetailBands`, finest level first.")

    def __new__(cls, ll: Tensor, highs: DetailBands) -> WaveletCoeffs2D:
        if not isinstance(highs, DetailBands):
            raise TypeError(f"highs must be DetailBands (it carries the input size), got {type(highs).__name__}")
        self = super().__new__(cls, (ll, highs))
        self.size, self.wavelet, self.mode, self.levels = highs.size, highs.wavelet, highs.mode, len(highs)
        return self

    def __getnewargs__(self) -> tuple[Tensor, DetailBands]:
        return (self[0], self[1])

    def __repr__(self) -> str:
        return (f"WaveletCoeffs2D(ll={tuple(self.ll.shape)}, levels={self.levels}, size={self.size}, "
                f"wavelet={self.wavelet!r}, mode={self.mode!r})")


class WaveletCoeffs1D(tuple):
    """``(low, high)`` of a one-level 1D DWT along ``dim``; unpacks as a 2-tuple.

    ``size`` is the input length along ``dim``; ``dim`` is counted from the end (negative), so it
    still names the axis when a batch axis is added in front (``torch.vmap``); ``wavelet`` and
    ``mode`` are the transform's.
    """

    def __new__(cls, low: Tensor, high: Tensor, *, size: int, dim: int, wavelet: str, mode: str) -> WaveletCoeffs1D:
        self = super().__new__(cls, (low, high))
        self.size, self.dim, self.wavelet, self.mode = int(size), int(dim), wavelet, mode
        return self

    low = _slot(0, "The low-pass band.")
    high = _slot(1, "The high-pass band.")

    def __getnewargs_ex__(self) -> tuple[tuple, dict]:
        return (self[0], self[1]), {"size": self.size, "dim": self.dim, "wavelet": self.wavelet, "mode": self.mode}

    def __repr__(self) -> str:
        return (f"WaveletCoeffs1D(low={tuple(self.low.shape)}, size={self.size}, dim={self.dim}, "
                f"wavelet={self.wavelet!r}, mode={self.mode!r})")


# Registered as pytree nodes, so torch.vmap, torch.func and torch.compile see the tensors inside
# (and rebuild the containers, facts included) instead of refusing an unknown leaf.
pytree.register_pytree_node(
    DetailBands,
    lambda b: (list(b), (b.size, b.wavelet, b.mode)),
    lambda bands, ctx: DetailBands(list(bands), size=ctx[0], wavelet=ctx[1], mode=ctx[2]),
    serialized_type_name="wavelayers.coeffs.DetailBands",
)
pytree.register_pytree_node(
    WaveletCoeffs2D,
    lambda c: ([c[0], c[1]], None),
    lambda children, _: WaveletCoeffs2D(children[0], children[1]),
    serialized_type_name="wavelayers.coeffs.WaveletCoeffs2D",
)
pytree.register_pytree_node(
    WaveletCoeffs1D,
    lambda c: ([c[0], c[1]], (c.size, c.dim, c.wavelet, c.mode)),
    lambda children, meta: WaveletCoeffs1D(
        children[0], children[1], size=meta[0], dim=meta[1], wavelet=meta[2], mode=meta[3]
    ),
    serialized_type_name="wavelayers.coeffs.WaveletCoeffs1D",
)
