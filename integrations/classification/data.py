"""CIFAR-100 from torchvision's on-disk format (``<root>/cifar-100-python/{train,test,meta}``).

Loading goes through ``torchvision.datasets.CIFAR100`` itself. Its MD5 check of the three files
stays on by default (real CIFAR-100); ``verify=False`` only checks that they exist, for subsets
or fixtures written in the same pickle format (:func:`write_cifar100_fixture`).
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Subset
from torchvision import datasets, transforms

__all__ = [
    "CIFAR100_MEAN", "CIFAR100_STD", "DatasetNotFound", "CIFAR100Files", "cifar100", "train_transform",
    "eval_transform", "write_cifar100_fixture",
]

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
_FILES = ("train", "test", "meta")


class DatasetNotFound(FileNotFoundError):
    """CIFAR-100 is not where the user said; the message says where we looked and what to do."""


class CIFAR100Files(datasets.CIFAR100):
    """``torchvision.datasets.CIFAR100`` with an optional MD5 check (``verify=False``: existence only)."""

    def __init__(self, root: str | Path, train: bool = True, verify: bool = True, **kwargs) -> None:
        if not verify:  # check_integrity(path, None) only checks that the file exists
            self.train_list = [[name, None] for name, _ in datasets.CIFAR100.train_list]
            self.test_list = [[name, None] for name, _ in datasets.CIFAR100.test_list]
            self.meta = {**datasets.CIFAR100.meta, "md5": None}
        super().__init__(root, train=train, **kwargs)


def train_transform(rotation: float = 15.0) -> transforms.Compose:
    """Random crop 32 (padding 4), horizontal flip, optional random rotation (degrees), normalise."""
    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    if rotation:
        steps.append(transforms.RandomRotation(rotation))
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD)])


def eval_transform() -> transforms.Compose:
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD)])


def _not_found(root: Path, missing: list[str], download_failed: Exception | None) -> DatasetNotFound:
    folder = root / datasets.CIFAR100.base_folder
    lines = [f"CIFAR-100 not found: looked for {', '.join(str(folder / f) for f in missing)}."]
    if download_failed is not None:
        lines.append(f"The download failed ({type(download_failed).__name__}: {download_failed}).")
    lines += [
        "To fix: pass --data DIR where DIR/cifar-100-python/ holds train, test and meta (extract "
        f"{datasets.CIFAR100.url} into DIR: tar xzf cifar-100-python.tar.gz -C DIR), or add --download "
        "on a machine with internet access.",
    ]
    return DatasetNotFound(" ".join(lines))


def cifar100(
    root: str | Path,
    train: bool,
    transform: transforms.Compose | None = None,
    download: bool = False,
    verify: bool = True,
    limit: int | None = None,
) -> Dataset:
    """The CIFAR-100 ``train`` or test split under ``root`` (the first ``limit`` images if given).

    Raises:
        DatasetNotFound: the files are absent (and ``download`` was off or failed).
        RuntimeError: the files exist but their MD5 sums differ (``verify=False`` accepts them).
    """
    root = Path(root).expanduser()
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    download_error: Exception | None = None
    if download:
        try:
            datasets.CIFAR100(root, train=train, download=True)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            download_error = exc
    missing = [f for f in _FILES if not (root / datasets.CIFAR100.base_folder / f).is_file()]
    if missing:
        raise _not_found(root, missing, download_error)
    try:
        dataset = CIFAR100Files(root, train=train, verify=verify, transform=transform)
    except RuntimeError as exc:
        raise RuntimeError(
            f"{root / datasets.CIFAR100.base_folder}: the files exist but fail torchvision's MD5 check ({exc}). "
            "If this is intentionally a subset or a fixture in the CIFAR-100 format, pass --no-verify."
        ) from exc
    if limit is not None and limit < len(dataset):
        return Subset(dataset, range(limit))
    return dataset


class _Py2Str(bytes):
    """A Python 2 ``str``: unpickles as ``str`` with ``encoding='latin1'`` (torchvision) and as
    ``bytes`` with ``encoding='bytes'`` -- how the keys of the real CIFAR-100 pickles behave."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets one type write its own opcodes
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: _Py2Str) -> None:
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + n.to_bytes(4, "little")
        self.write(head + bytes(obj))

    dispatch[_Py2Str] = _save_py2_str


def _py2(text: str) -> _Py2Str:
    return _Py2Str(text.encode("latin1"))


def write_cifar100_fixture(
    root: str | Path, n_train: int = 64, n_test: int = 32, seed: int = 0, classes: int = 100
) -> Path:
    """Write a small synthetic dataset in CIFAR-100's pickle format under ``root/cifar-100-python``.

    Not CIFAR: labels are drawn from the first ``classes`` of the 100 fine classes; each class is
    a fixed random 8x8 colour pattern (upscaled 4x) plus noise, so a model can learn it. Files and keys as in the real archive, whose Python 2 pickles
    hold ``str`` keys (``b'data'`` when loaded with ``encoding='bytes'``, ``'data'`` with
    ``encoding='latin1'`` as torchvision does): ``train``/``test`` hold ``data`` (uint8 N x 3072,
    channel-major 32x32), ``fine_labels``, ``coarse_labels``, ``filenames``, ``batch_label``;
    ``meta`` holds ``fine_label_names`` and ``coarse_label_names``.
    Existing files are never overwritten (``FileExistsError``). Returns the dataset folder.
    """
    for value, name in ((n_train, "n_train"), (n_test, "n_test")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(classes, bool) or not isinstance(classes, int) or not 1 <= classes <= 100:
        raise ValueError(f"classes must be an integer in [1, 100], got {classes!r}")
    folder = Path(root) / datasets.CIFAR100.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FILES:
        if (folder / name).exists():
            raise FileExistsError(f"{folder / name} exists; write the fixture into an empty folder")
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(100, 3, 8, 8)).astype(np.float64)

    def split(n: int, label: bytes) -> dict:
        fine = rng.integers(0, classes, size=n)
        coarse = fine // 5
        base = np.repeat(np.repeat(prototypes[fine], 4, axis=2), 4, axis=3)  # (n, 3, 32, 32)
        images = np.clip(base + rng.normal(0, 24, size=base.shape), 0, 255).astype(np.uint8)
        return {
            _py2("filenames"): [_py2(f"fixture_{i:05d}.png") for i in range(n)],
            _py2("batch_label"): _py2(label),
            _py2("fine_labels"): fine.tolist(),
            _py2("coarse_labels"): coarse.tolist(),
            _py2("data"): images.reshape(n, 3072),
        }

    meta = {
        _py2("fine_label_names"): [_py2(f"class_{i:02d}") for i in range(100)],
        _py2("coarse_label_names"): [_py2(f"superclass_{i:02d}") for i in range(20)],
    }
    for name, obj in (("train", split(n_train, "training batch 1 of 1")),
                      ("test", split(n_test, "testing batch 1 of 1")), ("meta", meta)):
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as f:
            _Py2Pickler(f, protocol=2).dump(obj)
        os.replace(tmp, folder / name)
    return folder
