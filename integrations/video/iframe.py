"""I-frames coded by a classic image codec through Pillow (JPEG or WebP at a quality setting).

Both ends decode the same bytes with the same Pillow build, so the encoder's reference equals the
decoder's. DVC as published codes I-frames with x265 (reimplementation) or a Balle-2018 hyperprior
(official code); see docs/video.md.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["IFRAME_CODECS", "encode_iframe", "decode_iframe"]

IFRAME_CODECS = ("jpeg", "webp")
_PIL_FORMAT = {"jpeg": "JPEG", "webp": "WEBP"}


def _check(codec: str, quality: int) -> None:
    if codec not in IFRAME_CODECS:
        raise ValueError(f"I-frame codec must be one of {IFRAME_CODECS}, got {codec!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"I-frame quality must be an integer in 1..100, got {quality!r}")


def encode_iframe(frame: np.ndarray, codec: str = "jpeg", quality: int = 90) -> bytes:
    """``frame`` (H, W, 3) uint8 -> codec bytes."""
    _check(codec, quality)
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be a (H, W, 3) uint8 array, got {getattr(frame, 'shape', type(frame))}")
    buf = io.BytesIO()
    options = {"quality": quality}
    if codec == "webp":
        options["method"] = 4
    Image.fromarray(frame, "RGB").save(buf, format=_PIL_FORMAT[codec], **options)
    return buf.getvalue()


def decode_iframe(data: bytes, codec: str, size: tuple[int, int]) -> np.ndarray:
    """Codec bytes -> (H, W, 3) uint8; ``ValueError`` if they do not decode to an RGB frame of ``size``."""
    _check(codec, 1)
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != _PIL_FORMAT[codec]:
                raise ValueError(f"expected a {_PIL_FORMAT[codec]} I-frame, found {img.format}")
            if img.size != (size[1], size[0]):
                raise ValueError(f"I-frame is {img.size[0]}x{img.size[1]}, the header says {size[1]}x{size[0]}")
            frame = np.array(img.convert("RGB"))
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"corrupt {codec} I-frame stream ({e})") from None
    return frame
