"""Image files <-> RGB tensors, with explicit rules for the modes an 8-bit RGB codec cannot store.

:func:`load_rgb` accepts (Pillow modes):

- ``RGB`` (and ``RGBX``, ``YCbCr``): used as is (converted to RGB);
- ``L`` / ``1`` (grayscale, bilevel): **converted to RGB by replicating the gray value into the three
  channels**, so the codec codes (and the metrics see) a 3-channel image whose channels are equal;
- ``P`` (palette): expanded to RGB through its palette;
- ``RGBA``, ``LA``, ``PA`` and palettes with a transparent colour: accepted only when every pixel
  is fully opaque (alpha 255), and the alpha channel is then dropped; any transparent pixel is
  refused (ValueError), since the codec has no alpha channel and compositing would be a guess.

Refused with a ValueError naming the reason: more than 8 bits per sample (``I;16*``, 16-bit RGB /
RGBA PNGs, which Pillow would otherwise silently cut to 8 bits, ``I`` and ``F``), ``CMYK`` and other
colour spaces, and multi-frame files (animations, multi-page TIFFs). The EXIF orientation tag is
applied, so the image is coded the way viewers show it.
"""
from __future__ import annotations

import io
import os

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .container import write_atomic

__all__ = ["load_rgb", "load_rgb_uint8", "save_png", "to_uint8"]

_AS_RGB = {"RGB", "RGBX", "YCbCr", "L", "1", "P"}
_WITH_ALPHA = {"RGBA", "LA", "PA"}
_HIGH_DEPTH = {"I": "32-bit integer", "F": "32-bit float"}


def load_rgb_uint8(path: str | os.PathLike) -> np.ndarray:
    """Image file -> (H, W, 3) uint8 RGB array, by the rules in the module docstring."""
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file that Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"{path}: refused, too many pixels ({e})") from None
    with image:
        if getattr(image, "n_frames", 1) > 1:
            raise ValueError(f"{path}: has {image.n_frames} frames; the codec takes single still images")
        _refuse_high_depth(image, path)
        try:
            image.load()
        except OSError as e:
            raise ValueError(f"{path}: damaged or truncated image file ({e})") from None
        image = ImageOps.exif_transpose(image)
        mode = image.mode
        if mode == "P" and "transparency" in image.info:
            image, mode = image.convert("RGBA"), "RGBA"
        if mode in _WITH_ALPHA:
            alpha = np.asarray(image.getchannel("A"))
            transparent = int(np.count_nonzero(alpha < 255))
            if transparent:
                raise ValueError(
                    f"{path}: {transparent} of {alpha.size} pixels are not fully opaque (alpha < 255); the codec "
                    "stores RGB only: flatten the image onto a background first"
                )
        elif mode not in _AS_RGB:
            raise ValueError(f"{path}: unsupported image mode {mode!r}; convert it to 8-bit RGB first")
        return np.array(image.convert("RGB"), dtype=np.uint8)


def _refuse_high_depth(image: Image.Image, path: str | os.PathLike) -> None:
    mode = image.mode
    if mode.startswith("I;16"):
        raise ValueError(f"{path}: 16-bit image (mode {mode}) refused: the codec and its metrics are 8-bit; "
                         "convert it to 8 bits per sample first")
    if mode in _HIGH_DEPTH:
        raise ValueError(f"{path}: {_HIGH_DEPTH[mode]} image (mode {mode}) refused: the codec is 8-bit; "
                         "convert it to 8 bits per sample first")
    for tile in image.tile:
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args[0] if tile.args else "")
        if isinstance(rawmode, str) and ";16" in rawmode:
            raise ValueError(f"{path}: 16 bits per sample (stored as {rawmode}) refused: the codec and its metrics "
                             "are 8-bit, and Pillow would drop the low byte; convert it to 8 bits first")


def load_rgb(path: str | os.PathLike) -> torch.Tensor:
    """Image file -> (1, 3, H, W) float32 in [0, 1] (values k / 255), by the module's rules."""
    array = load_rgb_uint8(path)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float().div(255.0).contiguous()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> (H, W, 3) uint8.

    ``floor(clamp(x, 0, 1) * 255 + 0.5)``: round half up, so the result never depends on a
    round-half-to-even tie rule; ``to_uint8(load_rgb(p))`` returns the file's pixels exactly.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"x must have shape (1, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor in [0, 1], got {x.dtype}")
    x = x.detach().to("cpu", torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    q = torch.floor(x.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
    return q.permute(1, 2, 0).contiguous().numpy()


def save_png(x: torch.Tensor, path: str | os.PathLike, force: bool = False) -> None:
    """Save ``x`` ((1, 3, H, W) in [0, 1]) as an 8-bit RGB PNG via :func:`to_uint8`; atomic, and
    an existing ``path`` is refused unless ``force``."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(x)).save(buffer, format="PNG")
    write_atomic(path, buffer.getvalue(), force=force)
