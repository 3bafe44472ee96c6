"""Test images: the files of an image folder, and natural photos that scikit-image ships.

The bundled photos let an evaluation run on a fresh machine without downloads. They are **not a
benchmark set**: eight photos of mixed sizes and content, three of them (rocket,
hubble_deep_field, retina) stored by scikit-image as JPEG and so carrying JPEG artefacts; numbers
measured on them compare codecs with each other on these images only and cannot be set beside
published Kodak / CLIC / Tecnick results.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .container import write_atomic

__all__ = ["IMAGE_SUFFIXES", "BUNDLED_PHOTOS", "list_images", "bundled_photos", "write_bundled_photos"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm", ".bmp", ".tif", ".tiff", ".webp")

# name -> provenance, as documented by scikit-image (skimage.data) 0.26.
BUNDLED_PHOTOS = {
    "astronaut": "Eileen Collins, NASA Great Images database; public domain (512x512, PNG)",
    "coffee": "coffee cup, Rachel Michetti for Pikolo Espresso Bar; CC0 (600x400, PNG)",
    "chelsea": "Chelsea the cat, Stefan van der Walt; CC0 (451x300, PNG)",
    "rocket": "Falcon 9 launching DSCOVR, SpaceX; public domain (640x427, stored as JPEG)",
    "immunohistochemistry": "IHC staining of colonic glands, CMMI; no known copyright restrictions (512x512, PNG)",
    "hubble_deep_field": "Hubble eXtreme Deep Field, NASA; public domain (1000x872, stored as JPEG)",
    "motorcycle_left": "left view of stereo_motorcycle, Middlebury 2014 stereo data set, 4x down-sampled (741x500)",
    "retina": "fundus photograph, Mikael Haggstrom via Wikimedia; CC0 (1411x1411, stored as JPEG)",
}


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (suffixes :data:`IMAGE_SUFFIXES`, any case; hidden files
    skipped), sorted by name. Raises FileNotFoundError / NotADirectoryError for a missing folder or
    a file, and ValueError for a folder without images."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    paths = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return paths


def _load_photo(name: str) -> np.ndarray:
    from skimage import data

    if name == "motorcycle_left":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def bundled_photos(limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """``[(name, (H, W, 3) uint8 RGB)]`` of the photos in :data:`BUNDLED_PHOTOS`, in that order
    (the first ``limit`` only). Not a benchmark set: see the module docstring."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be None or >= 1, got {limit}")
    names = list(BUNDLED_PHOTOS)[:limit]
    photos = []
    for name in names:
        image = np.ascontiguousarray(_load_photo(name), dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise RuntimeError(f"scikit-image's {name} has shape {image.shape}, expected (H, W, 3)")
        photos.append((name, image))
    return photos


def write_bundled_photos(folder: str | os.PathLike, limit: int | None = None, force: bool = False) -> list[Path]:
    """Write :func:`bundled_photos` as ``<folder>/<name>.png`` (atomic; existing files refused unless
    ``force``) and return the paths, for tools that take an image folder."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in bundled_photos(limit):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        path = folder / f"{name}.png"
        write_atomic(path, buffer.getvalue(), force=force)
        paths.append(path)
    return paths
