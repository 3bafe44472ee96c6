"""Axes longer than DENSE_MAX use banded row blocks: same coefficients, inverse and gradients."""
from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from wavelayers.functional import dwt1d, dwt2d, idwt1d, idwt2d
from wavelayers.wavelets import filter_bank
from wavelayers.operators import BLOCK_ROWS, DENSE_MAX, analysis_matrix, operator_blocks, synthesis_matrix

CASES = [
    ("haar", "jpeg2000"),
    ("bior2.2", "jpeg2000"),
    ("bior4.4", "jpeg2000"),
    ("bior4.4", "periodization"),
    ("db2", "periodization"),
    ("bior4.4", "symmetric"),
    ("db4", "zero"),
    ("sym4", "periodic"),
]


def _dense(blocks: tuple, shape: tuple[int, int]) -> np.ndarray:
    M = np.zeros(shape)
    for r0, r1, runs, part in blocks:
        cols = np.concatenate([np.arange(c0, c1) for c0, c1 in runs])
        M[r0:r1, cols] = part.numpy()
    return M


@pytest.mark.parametrize(("wavelet", "mode"), CASES)
@pytest.mark.parametrize("n", [DENSE_MAX + 1, 250, 301])
def test_blocks_reassemble_the_exact_matrices(wavelet: str, mode: str, n: int) -> None:
    A, S = analysis_matrix(wavelet, mode, n), synthesis_matrix(wavelet, mode, n)
    A_blocks, S_blocks = operator_blocks(wavelet, mode, n, torch.device("cpu"), torch.float64)
    assert len(A_blocks) == -(-A.shape[0] // BLOCK_ROWS)
    np.testing.assert_allclose(_dense(A_blocks, A.shape), A, atol=1e-12)
    np.testing.assert_allclose(_dense(S_blocks, S.shape), S, atol=1e-12)
    # banded: an interior block multiplies about 2 * BLOCK_ROWS + L columns, whatever n is
    L = filter_bank(wavelet).length
    assert max(sum(c1 - c0 for c0, c1 in runs) for _, _, runs, _ in A_blocks[1:-1]) <= 2 * BLOCK_ROWS + 2 * L


@pytest.mark.parametrize(("wavelet", "mode"), [c for c in CASES if c[1] != "jpeg2000"])
def test_long_axes_match_pywavelets(wavelet: str, mode: str) -> None:
    x = torch.randn(1, 2, 203, 130, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ll, highs = dwt2d(x, wavelet, levels=2, mode=mode)
    ref = pywt.wavedec2(x.numpy(), wavelet, mode=mode, level=2)
    np.testing.assert_allclose(ll.numpy(), ref[0], atol=1e-10)
    for j in range(2):
        for b in range(3):
            np.testing.assert_allclose(highs[j][:, :, b].numpy(), ref[2 - j][b], atol=1e-10)
    np.testing.assert_allclose(idwt2d(ll, highs, wavelet, mode=mode, size=(203, 130)).numpy(), x.numpy(), atol=1e-10)


@pytest.mark.parametrize(("wavelet", "mode"), CASES)
def test_long_axis_round_trip_and_adjoint(wavelet: str, mode: str) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 257, 2, dtype=torch.float64, generator=g, requires_grad=True)
    lo, hi = dwt1d(x, wavelet, mode=mode, dim=1)
    assert torch.allclose(idwt1d(lo, hi, wavelet, mode=mode, dim=1, size=257), x, atol=1e-10)
    # autograd's gradient is the transpose of the analysis matrix
    y = torch.randn(lo.shape[0], 2 * lo.shape[1], lo.shape[2], dtype=torch.float64, generator=g)
    (grad,) = torch.autograd.grad((torch.cat([lo, hi], 1) * y).sum(), x)
    A = torch.tensor(analysis_matrix(wavelet, mode, 257))
    assert torch.allclose(grad, torch.einsum("rc,brk->bck", A, y), atol=1e-10)


def test_banded_inputs_give_the_same_result_with_and_without_autograd() -> None:
    """Banded blocks read narrow views without autograd and one gathered copy with it: same values,
    and the gathered path's gradient is the adjoint (A^T g)."""
    x = torch.randn(2, 3, 150, 130, dtype=torch.float64)
    with torch.no_grad():
        ll, highs = dwt2d(x, "bior4.4", levels=1)
    xg = x.clone().requires_grad_(True)
    ll_g, highs_g = dwt2d(xg, "bior4.4", levels=1)
    torch.testing.assert_close(ll_g, ll, rtol=0, atol=1e-12)  # BLAS may round differently per layout
    torch.testing.assert_close(highs_g[0], highs[0], rtol=0, atol=1e-12)
    g = torch.randn_like(ll)
    (grad,) = torch.autograd.grad(ll_g, xg, g)
    A_h = torch.from_numpy(analysis_matrix("bior4.4", "jpeg2000", 150))[:75]
    A_w = torch.from_numpy(analysis_matrix("bior4.4", "jpeg2000", 130))[:65]
    torch.testing.assert_close(grad, A_h.T @ g @ A_w, rtol=0, atol=1e-10)
