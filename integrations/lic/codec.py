"""Which model codes or decodes a file, and images <-> ``.wlic`` files.

The bytes themselves are :func:`~.model.compress_image` / :func:`~.model.decompress_image`
(re-exported here); this module adds the choice of weights (a checkpoint, the shipped weights of
a registered model, or its untrained initialisation) and the file-level calls.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..compression.container import BitstreamError, unpack
from ..compression.imageio import load_rgb, save_png
from ..toolkit.files import write_atomic
from .checkpoint import load_checkpoint
from .gains import check_quality
from .model import WeConveneLIC, build_model, compress_image, decompress_image, model_names
from .rate_control import DEFAULT_TOLERANCE, compress_to_rate
from .refine import DEFAULT_LR, check_schedule, compress_refined
from .weights import shipped_checkpoint, shipped_for_model_id

__all__ = [
    "compress_image", "decompress_image", "model_for_stream", "load_model", "compress_file", "decompress_file",
    "CodingResult", "is_untrained", "UNTRAINED_WARNING",
]

UNTRAINED_WARNING = (
    "WARNING: running an UNTRAINED model ({name}, deterministic random weights): the bitstreams are real "
    "and decode exactly, but the images and rates are meaningless until trained weights are loaded."
)


def load_model(
    checkpoint: str | os.PathLike | None = None, name: str | None = None, quality: int | float | None = None,
    shipped: bool = True,
) -> WeConveneLIC:
    """A checkpoint's model; else the registered model ``name`` at ``quality`` (default 3) with its
    shipped weights (:data:`.weights.WEIGHTS_DIR`, if ``shipped`` and there are some), or untrained.
    ``quality`` sets a variable-rate checkpoint's quality; a fixed-rate checkpoint codes its own only."""
    if checkpoint is not None:
        model = load_checkpoint(checkpoint)
        if quality is not None:
            if not model.variable_rate and quality != model.quality:
                raise ValueError(f"{checkpoint} is a fixed-rate checkpoint of quality {model.quality}, "
                                 f"quality {quality!r} needs a variable-rate one (or no checkpoint)")
            model.quality = quality
        return model
    if name is None:
        raise ValueError("give a checkpoint or a model name")
    quality = 3 if quality is None else quality
    path = shipped_checkpoint(name, quality) if shipped else None
    if path is None and shipped and not name.endswith("-vr") and name + "-vr" in model_names():
        path = shipped_checkpoint(name + "-vr", quality)  # one variable-rate file serves every quality
    if path is not None:
        model = load_checkpoint(path)
        model.quality = quality
        return model
    return build_model(name, quality).eval()


def model_for_stream(data: bytes, checkpoint: str | os.PathLike | None = None) -> WeConveneLIC:
    """The model that wrote ``data``: the checkpoint's (checked against the file's model id) or,
    without one, the registered untrained model named in the header (checked the same way)."""
    header, _ = unpack(data)
    name, _, _ = header.model_id.partition("@")
    if checkpoint is None:
        checkpoint = shipped_for_model_id(header.model_id)
    if checkpoint is not None:
        model = load_checkpoint(checkpoint)
        if model.model_id != header.model_id:
            raise BitstreamError(
                f"wrong model id: the file was written by {header.model_id!r}, the checkpoint is {model.model_id!r}"
            )
        return model
    if name not in model_names():
        raise BitstreamError(f"wrong model id: {header.model_id!r} names no registered model; pass its --checkpoint")
    try:
        model = build_model(name, check_quality(header.quality, name.endswith("-vr"))).eval()
    except ValueError as e:
        raise BitstreamError(f"invalid quality in the file for {name}: {e}") from None
    if model.model_id != header.model_id:
        raise BitstreamError(
            f"wrong model id: the file was written by trained weights {header.model_id!r}, not by the untrained "
            f"{model.model_id!r}; pass the checkpoint that wrote it (--checkpoint)"
        )
    return model


@lru_cache(maxsize=32)
def _initial_fingerprint(name: str, quality: int) -> str:
    return build_model(name, quality).fingerprint()


def is_untrained(model: WeConveneLIC) -> bool:
    """True when ``model`` holds exactly the registered deterministic initial weights."""
    quality = 3 if model.variable_rate else model.quality  # one initialisation for all qualities
    return model.name in model_names() and _initial_fingerprint(model.name, quality) == model.fingerprint()


@dataclass(frozen=True)
class CodingResult:
    """What a file-level call did: sizes, rate, wall time (seconds), the quality coded and how many
    encodes it took (more than 1 for a target rate)."""

    num_bytes: int
    height: int
    width: int
    seconds: float
    quality: int | float | None = None
    encodes: int = 1

    @property
    def bpp(self) -> float:
        return self.num_bytes * 8.0 / (self.height * self.width)


def _refuse_existing(path: str | os.PathLike, force: bool) -> None:
    if not force and Path(path).exists():
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")


def compress_file(
    model: WeConveneLIC, src: str | os.PathLike, dst: str | os.PathLike, force: bool = False, refine: int = 0,
    target_bpp: float | None = None, tolerance: float = DEFAULT_TOLERANCE, refine_lr: float = DEFAULT_LR,
    refine_lr_end: float | None = None,
) -> CodingResult:
    """Image file -> ``.wlic`` file (atomic; no overwrite unless ``force``) at the model's quality.
    ``refine > 0`` optimises the latents of this image for that many steps first (:mod:`.refine`;
    Adam step ``refine_lr`` decayed geometrically to ``refine_lr_end``, default constant; slower
    encode, same decoder). ``target_bpp`` (variable-rate models) searches the quality whose
    file has that rate within ``tolerance`` (relative; :mod:`.rate_control`) instead."""
    _refuse_existing(dst, force)
    check_schedule(refine, refine_lr, refine_lr_end)
    if refine and target_bpp is not None:
        raise ValueError("a target rate and refinement cannot be combined (refinement changes the rate)")
    x = load_rgb(src)
    start = time.perf_counter()
    quality, encodes = model.quality, 1
    if target_bpp is not None:
        search = compress_to_rate(model, x, target_bpp, tolerance)
        data, quality, encodes = search.data, search.quality, search.encodes
    elif refine:
        data = compress_refined(model, x, refine, reconstruct=False, lr=refine_lr, lr_end=refine_lr_end)[0]
    else:
        data, _ = compress_image(model, x, reconstruct=False)
    seconds = time.perf_counter() - start
    write_atomic(dst, data, force=force)
    return CodingResult(len(data), x.shape[-2], x.shape[-1], seconds, quality, encodes)


def decompress_file(
    src: str | os.PathLike, dst: str | os.PathLike, checkpoint: str | os.PathLike | None = None, force: bool = False
) -> tuple[WeConveneLIC, CodingResult]:
    """``.wlic`` file -> PNG (atomic; no overwrite unless ``force``); returns the model used."""
    _refuse_existing(dst, force)
    data = Path(src).read_bytes()
    model = model_for_stream(data, checkpoint)
    start = time.perf_counter()
    with torch.no_grad():
        x_hat = decompress_image(model, data)
    seconds = time.perf_counter() - start
    save_png(x_hat, dst, force=force)
    return model, CodingResult(len(data), x_hat.shape[-2], x_hat.shape[-1], seconds)
