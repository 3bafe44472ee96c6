"""The coefficient containers: named slots, the transform's facts as plain attributes, and the
same facts after pickling, pytree flatten/unflatten and torch.compile."""
from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils import _pytree as pytree

from wavelayers import dwt1d, dwt2d
from wavelayers.coeffs import DetailBands, WaveletCoeffs1D, WaveletCoeffs2D

pytestmark = pytest.mark.usefixtures("single_thread")


def _facts2(c: WaveletCoeffs2D) -> tuple:
    return c.size, c.wavelet, c.mode, c.levels


def test_2d_slots_and_facts_come_from_the_bands() -> None:
    x = torch.randn(2, 7, 9, dtype=torch.float64)
    c = dwt2d(x, "bior2.2", levels=2)
    ll, highs = c
    assert c.ll is ll and c.highs is highs and isinstance(highs, DetailBands)
    assert _facts2(c) == ((7, 9), highs.wavelet, highs.mode, 2) == ((7, 9), "bior2.2", "jpeg2000", 2)
    with pytest.raises(AttributeError):
        c.ll = ll  # the slots are read-only, as a tuple's items


def test_1d_slots() -> None:
    c = dwt1d(torch.randn(3, 8), "haar", dim=-1)
    low, high = c
    assert c.low is low and c.high is high and (c.size, c.dim) == (8, -1)
    with pytest.raises(AttributeError):
        c.high = low


def test_facts_survive_pickle_and_pytree() -> None:
    c2 = dwt2d(torch.randn(1, 5, 6), "haar", levels=2, mode="periodization")
    c1 = dwt1d(torch.randn(2, 5), "bior2.2", dim=0)
    for c, facts in ((c2, lambda c: _facts2(c)), (c1, lambda c: (c.size, c.dim, c.wavelet, c.mode))):
        for back in (pickle.loads(pickle.dumps(c)), pytree.tree_unflatten(*pytree.tree_flatten(c))):
            assert type(back) is type(c) and facts(back) == facts(c)
            assert all(torch.equal(a, b) for a, b in zip(pytree.tree_leaves(back), pytree.tree_leaves(c)))


def test_compiled_code_reads_slots_and_facts() -> None:
    """fullgraph: the slot accessors and the plain attributes trace without a graph break."""

    def f(x: torch.Tensor) -> torch.Tensor:
        c2, c1 = dwt2d(x, "haar", levels=2), dwt1d(x, "haar", dim=-1)
        return c2.ll.sum() * c2.levels + c2.highs[1].sum() + c2.size[0] + c1.low.sum() - c1.high.sum() + c1.size

    x = torch.randn(2, 8, 6)
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True, dynamic=False)
    torch.testing.assert_close(compiled(x), f(x))
