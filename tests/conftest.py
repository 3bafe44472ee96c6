"""Shared pytest fixtures."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture
def rng() -> np.random.Generator:
    """A NumPy generator with a fixed seed, fresh for every test (results do not depend on test order)."""
    return np.random.default_rng(20240611)


def _one_intra_op_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run a test on one intra-op thread, then restore the previous count.

    Tests of small tensors run many tiny products; on a loaded 2-core machine each multi-threaded
    one pays a thread wake-up that costs ~100x the product itself. Results do not depend on it.
    A test module opts in for all its tests with ``pytestmark = pytest.mark.usefixtures("single_thread")``."""
    yield from _one_intra_op_thread()


@pytest.fixture(scope="module")
def single_thread_module() -> Iterator[None]:
    """:func:`single_thread` for a whole module (module-scoped fixtures then run on one thread too)."""
    yield from _one_intra_op_thread()


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training folder (two photos that scikit-image ships, cropped) in the image-folder layout
    the codec's loaders read; read-only for the tests that use it."""
    from PIL import Image
    from skimage import data as skdata

    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skdata.coffee()[:160, :200]).save(folder / "coffee.png")
    Image.fromarray(skdata.chelsea()[:150, :180]).save(folder / "chelsea.png")
    return folder
