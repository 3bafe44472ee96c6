"""Real-noise denoising data in the SIDD and DND on-disk layouts (read from a path the user gives).

Supported layouts (``root`` is what the user passes):

* SIDD-Medium sRGB, official: ``root[/Data]/<scene>/<id>_NOISY_SRGB_<k>.PNG`` paired with
  ``<id>_GT_SRGB_<k>.PNG`` in the same folder (the ``<id>_`` prefix is optional).
* Folder pair: ``root/noisy/*`` + ``root/gt/*`` (or ``input/`` + ``target/``, the layout that
  MIRNet-v2's patch script and :func:`write_crops` produce), matched by file name.
* SIDD validation / benchmark blocks: ``ValidationNoisyBlocksSrgb.mat`` + ``ValidationGtBlocksSrgb.mat``
  (uint8, ``(images, blocks, 256, 256, 3)``, MATLAB v5 as distributed, read with ``scipy.io``);
  ``BenchmarkNoisyBlocksSrgb.mat`` alone gives noisy-only blocks.
* DND style test input: a folder of noisy images (PNG / JPEG / TIFF / BMP), noisy only. DND's own
  ``info.mat`` + ``images_srgb/*.mat`` are MATLAB v7.3 (HDF5) files, which ``scipy.io`` cannot read;
  they are detected and refused with a message (export the boxes to PNG first).

Images are float32 tensors ``(3, H, W)`` in ``[0, 1]``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

__all__ = [
    "find_sidd_pairs", "load_image", "augment_8way", "PairedPatchDataset", "PairedImageDataset",
    "BlockDataset", "NoisyImageFolder", "open_validation", "open_test_inputs", "write_crops",
    "sidd_layouts_help", "IMAGE_EXTENSIONS",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
NOISY_DIRS = ("noisy", "input")
CLEAN_DIRS = ("gt", "target", "clean")
SIDD_VAL_NOISY = "ValidationNoisyBlocksSrgb"
SIDD_VAL_GT = "ValidationGtBlocksSrgb"
SIDD_BENCH_NOISY = "BenchmarkNoisyBlocksSrgb"

Pair = tuple[Path, Path]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _official_sidd_pairs(root: Path) -> list[Pair]:
    base = root / "Data" if (root / "Data").is_dir() else root
    pairs = []
    for scene in sorted(p for p in base.iterdir() if p.is_dir()):
        for noisy in _images_in(scene):
            if "NOISY_SRGB" not in noisy.name.upper():
                continue
            i = noisy.name.upper().index("NOISY")
            gt = scene / (noisy.name[:i] + "GT" + noisy.name[i + len("NOISY"):])
            if not gt.is_file():
                raise FileNotFoundError(f"{noisy}: no ground truth {gt.name} next to it")
            pairs.append((noisy, gt))
    return pairs


def _folder_pairs(root: Path) -> list[Pair]:
    for noisy_name in NOISY_DIRS:
        for clean_name in CLEAN_DIRS:
            noisy_dir, clean_dir = root / noisy_name, root / clean_name
            if not (noisy_dir.is_dir() and clean_dir.is_dir()):
                continue
            clean = {p.name: p for p in _images_in(clean_dir)}
            noisy = _images_in(noisy_dir)
            missing = [p.name for p in noisy if p.name not in clean]
            if missing:
                raise FileNotFoundError(
                    f"{clean_dir}: no ground truth for {len(missing)} noisy image(s), e.g. {missing[0]}"
                )
            return [(p, clean[p.name]) for p in noisy]
    return []


def sidd_layouts_help(root: str | os.PathLike) -> str:
    """The places :func:`find_sidd_pairs` looks in, as one line."""
    r = Path(root)
    folders = ", ".join(f"{r}/{n}/ + {r}/{c}/" for n in NOISY_DIRS for c in CLEAN_DIRS)
    return f"{r}/Data/<scene>/*NOISY_SRGB_*.PNG (+ *GT_SRGB_*), {r}/<scene>/*NOISY_SRGB_*.PNG, {folders}"


def find_sidd_pairs(root: str | os.PathLike, limit: int | None = None) -> list[Pair]:
    """(noisy, clean) image paths under ``root`` in any supported SIDD layout, sorted by path.

    Raises FileNotFoundError naming the places it looked if ``root`` holds none."""
    r = Path(root)
    if not r.is_dir():
        raise FileNotFoundError(f"{r}: not a directory (looked for SIDD pairs in {sidd_layouts_help(r)})")
    pairs = _folder_pairs(r) or _official_sidd_pairs(r)
    if not pairs:
        raise FileNotFoundError(f"no noisy/clean image pairs found; looked for {sidd_layouts_help(r)}")
    return pairs[:limit] if limit else pairs


def load_image(path: str | os.PathLike) -> Tensor:
    """An 8-bit or 16-bit image file as a float32 tensor (3, H, W) in [0, 1]."""
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I"):
            arr = np.asarray(im, dtype=np.float32) / 65535.0
            arr = np.repeat(arr[..., None], 3, axis=2)
        else:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def augment_8way(x: Tensor, k: int) -> Tensor:
    """One of the 8 dihedral transforms of (..., H, W): ``k % 4`` quarter turns, flipped if ``k >= 4``."""
    if not 0 <= k < 8:
        raise ValueError(f"k must be in 0..7, got {k}")
    y = torch.rot90(x, k % 4, dims=(-2, -1))
    return y.flip(-1) if k >= 4 else y


def _random_crop(noisy: Tensor, clean: Tensor, size: int, where: str) -> tuple[Tensor, Tensor]:
    h, w = noisy.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"{where}: image {h}x{w} is smaller than the patch size {size}")
    top = int(torch.randint(0, h - size + 1, ()))
    left = int(torch.randint(0, w - size + 1, ()))
    return noisy[:, top : top + size, left : left + size], clean[:, top : top + size, left : left + size]


class PairedPatchDataset(Dataset):
    """Random ``patch_size`` crops of (noisy, clean) pairs with random 8-way flips/rotations.

    Item ``i`` reads pair ``i % len(pairs)`` (``repeat`` passes over the pairs per epoch) and returns
    ``(noisy, clean)``, each (3, patch, patch). ``patch_size`` may be changed between epochs
    (progressive training)."""

    def __init__(self, pairs: Sequence[Pair], patch_size: int, augment: bool = True, repeat: int = 1) -> None:
        if not pairs:
            raise ValueError("PairedPatchDataset needs at least one (noisy, clean) pair")
        if patch_size < 1 or repeat < 1:
            raise ValueError(f"patch_size and repeat must be >= 1, got {patch_size}, {repeat}")
        self.pairs = list(pairs)
        self.patch_size = patch_size
        self.augment = augment
        self.repeat = repeat

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        noisy_path, clean_path = self.pairs[i % len(self.pairs)]
        noisy, clean = load_image(noisy_path), load_image(clean_path)
        if noisy.shape != clean.shape:
            raise ValueError(f"{noisy_path}: shape {tuple(noisy.shape)} differs from {clean_path}: {tuple(clean.shape)}")
        noisy, clean = _random_crop(noisy, clean, self.patch_size, str(noisy_path))
        if self.augment:
            k = int(torch.randint(0, 8, ()))
            noisy, clean = augment_8way(noisy, k), augment_8way(clean, k)
        return noisy.contiguous(), clean.contiguous()


class PairedImageDataset(Dataset):
    """Whole (noisy, clean) image pairs for validation: items ``(noisy, clean, name)``; a pair
    ``(noisy, None)`` gives ``clean=None``."""

    def __init__(self, pairs: Sequence[tuple[Path, Path | None]]) -> None:
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor | None, str]:
        noisy_path, clean_path = self.pairs[i]
        return load_image(noisy_path), None if clean_path is None else load_image(clean_path), noisy_path.stem


class BlockDataset(Dataset):
    """Blocks of the SIDD .mat files: items ``(noisy, clean, name)`` (``clean`` is None without GT).

    ``noisy`` / ``clean``: uint8 arrays ``(images, blocks, H, W, 3)``; names are ``<image>_<block>``."""

    def __init__(self, noisy: np.ndarray, clean: np.ndarray | None = None, limit: int | None = None) -> None:
        if noisy.ndim != 5 or noisy.shape[-1] != 3:
            raise ValueError(f"expected blocks of shape (images, blocks, H, W, 3), got {noisy.shape}")
        if clean is not None and clean.shape != noisy.shape:
            raise ValueError(f"noisy blocks {noisy.shape} and ground-truth blocks {clean.shape} differ")
        self.noisy, self.clean = noisy, clean
        self.index = [(i, j) for i in range(noisy.shape[0]) for j in range(noisy.shape[1])][: limit or None]

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def _tensor(block: np.ndarray) -> Tensor:
        scale = 65535.0 if block.dtype == np.uint16 else 255.0 if block.dtype == np.uint8 else 1.0
        return torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32) / scale).permute(2, 0, 1).contiguous()

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor | None, str]:
        i, j = self.index[k]
        clean = None if self.clean is None else self._tensor(self.clean[i, j])
        return self._tensor(self.noisy[i, j]), clean, f"{i:02d}_{j:02d}"


def _load_mat_array(path: Path, key: str) -> np.ndarray:
    import scipy.io

    try:
        data = scipy.io.loadmat(str(path), variable_names=[key])
    except NotImplementedError:
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) file; scipy.io reads only v5 .mat files") from None
    if key not in data:
        raise ValueError(f"{path}: no variable {key!r} in the file")
    return data[key]


def _find_mat(root: Path, key: str) -> Path | None:
    if root.is_file():
        return root if root.stem == key else None
    path = root / f"{key}.mat"
    return path if path.is_file() else None


def open_validation(path: str | os.PathLike, limit: int | None = None) -> Dataset:
    """Validation data from ``path``: the SIDD validation .mat pair (a directory holding
    ``ValidationNoisyBlocksSrgb.mat`` + ``ValidationGtBlocksSrgb.mat``, or the noisy file itself),
    else whole image pairs in any :func:`find_sidd_pairs` layout. Items: ``(noisy, clean, name)``."""
    p = Path(path)
    noisy_mat = _find_mat(p, SIDD_VAL_NOISY)
    if noisy_mat is not None:
        gt_mat = noisy_mat.with_name(f"{SIDD_VAL_GT}.mat")
        if not gt_mat.is_file():
            raise FileNotFoundError(f"{noisy_mat}: ground truth {gt_mat} is missing")
        return BlockDataset(_load_mat_array(noisy_mat, SIDD_VAL_NOISY), _load_mat_array(gt_mat, SIDD_VAL_GT), limit)
    if p.is_file():
        raise ValueError(f"{p}: expected {SIDD_VAL_NOISY}.mat or a directory of image pairs")
    return PairedImageDataset(find_sidd_pairs(p, limit))


class NoisyImageFolder(PairedImageDataset):
    """Noisy-only inputs (DND style folder of images): items ``(noisy, None, name)``."""

    def __init__(self, files: Sequence[Path]) -> None:
        super().__init__([(Path(f), None) for f in files])


def open_test_inputs(path: str | os.PathLike, limit: int | None = None) -> Dataset:
    """Noisy-only test inputs: ``BenchmarkNoisyBlocksSrgb.mat`` (SIDD benchmark blocks) or a folder of
    noisy images (DND style). Items: ``(noisy, None, name)``."""
    p = Path(path)
    bench = _find_mat(p, SIDD_BENCH_NOISY)
    if bench is not None:
        return BlockDataset(_load_mat_array(bench, SIDD_BENCH_NOISY), None, limit)
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: not a directory of noisy images nor {SIDD_BENCH_NOISY}.mat")
    if (p / "info.mat").is_file() or (p / "images_srgb").is_dir():
        raise ValueError(
            f"{p}: DND's info.mat / images_srgb/*.mat are MATLAB v7.3 (HDF5) files, not supported; "
            "export the 50x20 boxes to a folder of PNG files and pass that folder"
        )
    files = _images_in(p)
    if not files:
        raise FileNotFoundError(f"{p}: no images with extensions {IMAGE_EXTENSIONS}")
    return NoisyImageFolder(files[:limit] if limit else files)


def write_crops(pairs: Sequence[Pair], out_dir: str | os.PathLike, crop: int = 512, stride: int | None = None) -> int:
    """Tile every pair into ``crop x crop`` PNG crops (step ``stride``, default ``crop``) under
    ``out_dir/input`` and ``out_dir/target``; returns the number of crop pairs written. An image
    smaller than ``crop`` is written whole."""
    out = Path(out_dir)
    step = stride or crop
    (out / "input").mkdir(parents=True, exist_ok=True)
    (out / "target").mkdir(parents=True, exist_ok=True)
    count = 0
    for noisy_path, clean_path in pairs:
        with Image.open(noisy_path) as a, Image.open(clean_path) as b:
            noisy, clean = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))
        h, w = noisy.shape[:2]
        stem = f"{noisy_path.parent.name}_{noisy_path.stem}"
        for top in range(0, max(h - crop, 0) + 1, step):
            for left in range(0, max(w - crop, 0) + 1, step):
                name = f"{stem}_{top}_{left}.png"
                Image.fromarray(noisy[top : top + crop, left : left + crop]).save(out / "input" / name)
                Image.fromarray(clean[top : top + crop, left : left + crop]).save(out / "target" / name)
                count += 1
    return count
