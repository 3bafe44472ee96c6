"""Frame sequences on disk and the training pairs drawn from them.

Layouts:

* UVG style: ``root/<sequence>/<frames>.png`` (one folder of PNG frames per sequence, frames in
  natural order of their names, e.g. ``f1.png < f2.png < f10.png``); a folder that itself holds
  PNG frames is one sequence.
* Vimeo-90k septuplets: ``root/sequences/<xxxxx>/<xxxx>/im1.png .. im7.png`` listed by
  ``root/sep_trainlist.txt`` (one ``xxxxx/xxxx`` per line; ``sep_testlist.txt`` for the test split).

:class:`FramePairs` yields ``(reference, current)`` crops: the reference is the *original* frame
``gap`` steps before the current one (as in the PyTorch DVC reimplementation; the paper buffers
decoded frames instead), with the same random crop and random horizontal / vertical flips on both.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..compression.imageio import load_rgb_uint8

__all__ = ["list_frames", "list_sequences", "vimeo_septuplets", "read_frames", "FramePairs", "moving_sequence"]


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """The PNG frames of one sequence folder, in natural name order; ValueError if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of frames")
    frames = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()), key=_natural_key)
    if not frames:
        raise ValueError(f"{folder}: no .png frames (expected a folder of PNG frames per sequence)")
    return frames


def list_sequences(root: str | os.PathLike) -> list[Path]:
    """UVG-style sequence folders under ``root`` (sorted), or ``[root]`` if it holds frames itself."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    if any(p.suffix.lower() == ".png" for p in root.iterdir()):
        return [root]
    seqs = sorted(p for p in root.iterdir() if p.is_dir() and any(q.suffix.lower() == ".png" for q in p.iterdir()))
    if not seqs:
        raise ValueError(f"{root}: no sequence folders of .png frames (expected root/<sequence>/<frame>.png)")
    return seqs


def vimeo_septuplets(root: str | os.PathLike, list_file: str = "sep_trainlist.txt") -> list[list[Path]]:
    """The septuplets ``[im1 .. im7]`` named by ``root/list_file``; checks that every file exists."""
    root = Path(root)
    listing = root / list_file
    if not listing.is_file():
        raise FileNotFoundError(f"{listing}: missing (expected the Vimeo-90k septuplet layout: "
                                f"{list_file} and sequences/xxxxx/xxxx/im1..im7.png)")
    out = []
    for line in listing.read_text().split():
        frames = [root / "sequences" / line / f"im{i}.png" for i in range(1, 8)]
        missing = [str(f) for f in frames if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"{list_file} names {line}, but {missing[0]} is missing")
        out.append(frames)
    if not out:
        raise ValueError(f"{listing}: lists no septuplets")
    return out


def read_frames(paths: Sequence[Path]) -> list[np.ndarray]:
    """Frame files -> (H, W, 3) uint8 arrays, all of one size (ValueError otherwise)."""
    frames = [load_rgb_uint8(p) for p in paths]
    for p, f in zip(paths, frames):
        if f.shape != frames[0].shape:
            raise ValueError(f"{p}: size {f.shape[1]}x{f.shape[0]} differs from {frames[0].shape[1]}x{frames[0].shape[0]}")
    return frames


class FramePairs(Dataset):
    """``(reference, current)`` float crops (3, crop, crop) in [0, 1] from frame sequences.

    Args:
        sequences: lists of frame paths (from :func:`vimeo_septuplets` or ``list_frames`` per sequence).
        crop: square crop side (DVC: 256); frames smaller than that raise ValueError when read.
        gap: frames between reference and current (DVC reimplementation: 2).
        flips: random horizontal and vertical flips (same on both frames).
    """

    def __init__(self, sequences: Sequence[Sequence[Path]], crop: int = 256, gap: int = 2, flips: bool = True) -> None:
        if crop < 1 or gap < 1:
            raise ValueError(f"crop and gap must be >= 1, got crop={crop}, gap={gap}")
        self.crop, self.flips = crop, flips
        self.pairs = [(seq[i - gap], seq[i]) for seq in sequences for i in range(gap, len(seq))]
        if not self.pairs:
            raise ValueError(f"no sequence has more than gap={gap} frames")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        ref, cur = (torch.from_numpy(f).permute(2, 0, 1) for f in read_frames(self.pairs[index]))
        h, w = cur.shape[-2:]
        if h < self.crop or w < self.crop:
            raise ValueError(f"{self.pairs[index][1]}: {w}x{h} is smaller than the {self.crop}x{self.crop} crop")
        top = int(torch.randint(0, h - self.crop + 1, ()))
        left = int(torch.randint(0, w - self.crop + 1, ()))
        pair = torch.stack((ref, cur))[..., top:top + self.crop, left:left + self.crop]
        if self.flips:
            if torch.rand(()) < 0.5:
                pair = pair.flip(-1)
            if torch.rand(()) < 0.5:
                pair = pair.flip(-2)
        pair = pair.float() / 255.0
        return pair[0], pair[1]


def moving_sequence(frames: int, height: int, width: int, motion: tuple[int, int] = (1, 2),
                    source: np.ndarray | None = None, seed: int = 0) -> list[np.ndarray]:
    """A synthetic sequence: a ``height x width`` window sliding ``motion = (dy, dx)`` pixels per frame
    over ``source`` ((H, W, 3) uint8; default: smoothed seeded noise). Not a benchmark; for tests and demos."""
    dy, dx = motion
    need_h, need_w = height + abs(dy) * (frames - 1), width + abs(dx) * (frames - 1)
    if source is None:
        from scipy.ndimage import uniform_filter

        noise = np.random.default_rng(seed).random((need_h, need_w, 3))
        source = (uniform_filter(noise, size=(7, 7, 1)) * 255).round().astype(np.uint8)
    if source.shape[0] < need_h or source.shape[1] < need_w:
        raise ValueError(f"source {source.shape[1]}x{source.shape[0]} is too small for {frames} frames of "
                         f"{width}x{height} moving by {motion}")
    y0, x0 = (abs(dy) * (frames - 1) if dy < 0 else 0), (abs(dx) * (frames - 1) if dx < 0 else 0)
    return [np.ascontiguousarray(source[y0 + t * dy: y0 + t * dy + height, x0 + t * dx: x0 + t * dx + width])
            for t in range(frames)]
