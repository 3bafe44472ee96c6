"""torch.compile with dynamic shapes and several input sizes in a row, and ONNX export through
onnxruntime, for the transforms and the layers (eager results are the oracle).

The compile tests use the ``aot_eager`` backend: Dynamo's capture with symbolic sizes and AOT
autograd are what a second input size used to break, and inductor's C++ code generation takes
many minutes on the shared 2-core CPU. One inductor test (slow) covers code generation."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from wavelayers import DWT2D, IDWT2D, ChWDTB, WeConv3D, dwt2d, idwt2d, use_backend

SIZES = [(13, 9), (15, 11), (20, 17)]


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _round_trip(x: torch.Tensor) -> torch.Tensor:
    ll, highs = dwt2d(x, "bior4.4", levels=2)
    return idwt2d(ll * 2.0, highs)


@pytest.mark.parametrize("backend", ["auto", "lifting"])
def test_transforms_compile_with_dynamic_shapes_over_three_sizes(backend: str) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(_round_trip, dynamic=True, fullgraph=True, backend="aot_eager")
    with use_backend(backend):
        for size in SIZES:
            x = _randn(2, 3, *size)
            torch.testing.assert_close(compiled(x), _round_trip(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("wavelet", "mode"), [("db2", "periodization"), ("bior2.4", "jpeg2000")])
def test_filter_backend_compiles_with_dynamic_shapes_over_three_sizes(wavelet: str, mode: str) -> None:
    """Wavelets without lifting steps take the polyphase filter under compile: no constant matrices."""
    def round_trip(x: torch.Tensor) -> torch.Tensor:
        ll, highs = dwt2d(x, wavelet, levels=2, mode=mode)
        return idwt2d(ll * 2.0, highs)

    torch._dynamo.reset()
    compiled = torch.compile(round_trip, dynamic=True, fullgraph=True, backend="aot_eager")
    for size in SIZES:
        x = _randn(2, 3, *size)
        torch.testing.assert_close(compiled(x), round_trip(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_transforms_compile_with_inductor_over_two_sizes() -> None:
    torch._dynamo.reset()
    compiled = torch.compile(_round_trip, dynamic=True)
    for size in SIZES[:2]:
        x = _randn(1, 2, *size)
        torch.testing.assert_close(compiled(x), _round_trip(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("factory", [
    lambda: WeConv3D(8, 16, stride=2, levels=2, channel_levels=1),
    lambda: ChWDTB(8, num_heads=2, window_size=4),
], ids=["weconv3d", "chwdtb"])
@pytest.mark.parametrize("dynamic", [True, None])
def test_layers_compile_over_two_and_three_sizes(factory, dynamic: bool | None) -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    m = factory().eval()
    compiled = torch.compile(m, dynamic=dynamic, backend="aot_eager")
    with torch.no_grad():
        for size in SIZES:
            x = _randn(1, 8, *size)
            torch.testing.assert_close(compiled(x), m(x), rtol=1e-5, atol=1e-5)


def test_import_does_not_load_dynamo() -> None:
    code = "import sys, wavelayers; print('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _onnx_round_trip(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], tmp_path) -> list:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = tmp_path / "model.onnx"
    torch.onnx.export(module, inputs, str(path), dynamo=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})


class _DWT(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dwt = DWT2D("bior4.4", levels=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ll, highs = self.dwt(x)
        return (ll, *highs)


class _IDWT(torch.nn.Module):
    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.idwt, self.size = IDWT2D("bior4.4"), size

    def forward(self, ll: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        return self.idwt(ll, [h1, h2], size=self.size)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["auto", "lifting"])
def test_onnx_export_of_dwt_and_idwt_matches_eager_on_odd_sizes(backend: str, tmp_path) -> None:
    x = _randn(1, 3, 13, 11)
    with use_backend(backend):
        dwt = _DWT().eval()
        expected = dwt(x)
        got = _onnx_round_trip(dwt, (x,), tmp_path)
        for a, b in zip(got, expected):
            torch.testing.assert_close(torch.from_numpy(a), b, rtol=1e-5, atol=1e-5)
        idwt = _IDWT((13, 11)).eval()
        (rec,) = _onnx_round_trip(idwt, tuple(expected), tmp_path)
        torch.testing.assert_close(torch.from_numpy(rec), idwt(*expected), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_onnx_export_of_weconv3d_matches_eager_on_an_odd_size(tmp_path) -> None:
    torch.manual_seed(0)
    m = WeConv3D(8, 16, stride=2, levels=2, channel_levels=1).eval()
    x = _randn(1, 8, 15, 13)
    with use_backend("lifting"):
        (y,) = _onnx_round_trip(m, (x,), tmp_path)
        torch.testing.assert_close(torch.from_numpy(y), m(x), rtol=1e-5, atol=1e-5)
