"""Classic image codecs through Pillow, encoded live at matched rates: JPEG, WebP, JPEG 2000, AVIF.

Each codec has one rate parameter that is searched per image to hit a target bpp; the other
settings are fixed (``CODECS``; a caller may override them with ``options``):

- ``jpeg``: libjpeg-turbo, ``quality`` 1..95 (Pillow advises against > 95), ``optimize=True``
  (optimised Huffman tables), 4:2:0 chroma subsampling; integer bisection on ``quality``.
- ``jpeg444``: the same without chroma subsampling (4:4:4), which is ahead of 4:2:0 at high rates on
  some photos; to beat JPEG, a codec has to beat both.
- ``webp``: libwebp lossy, ``quality`` 0..100, ``method=4`` (Pillow's default effort);
  integer bisection on ``quality``.
- ``jpeg2000``: OpenJPEG, irreversible CDF 9/7 wavelet with the irreversible colour transform
  (``irreversible=True, mct=1``), one quality layer in ``quality_mode="rates"``, raw codestream
  (``no_jp2=True``, no JP2 boxes); the rate parameter is the compression ratio, started at
  ``24 / target`` and corrected from the measured size until within 0.5 % (at most 6 encodes).
- ``avif``: libavif (AOM encoder), ``quality`` 0..100, 4:4:4 chroma, ``speed=6``; integer
  bisection on ``quality``.

For the integer parameters, bisection brackets the target between two neighbouring settings
(assuming the size grows with the parameter) and keeps the one whose rate is closer in log scale;
when the target lies outside the codec's range the nearest end is used. bpp counts every byte of
the file the codec writes. PSNR and MS-SSIM are measured on the decoded 8-bit RGB image
(:mod:`.metrics`); times are the wall time of one ``Image.save`` into memory and of one
``Image.open(...).load()`` (including Pillow's overhead).
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field

import numpy as np
import PIL
from PIL import Image, features
from tqdm import tqdm

from . import metrics

__all__ = ["CODECS", "ClassicResult", "available_codecs", "encode_at_bpp", "rd_curve"]


@dataclass(frozen=True)
class _Codec:
    label: str
    pillow_format: str
    feature: str
    options: dict
    parameter: str  # the searched argument of Image.save
    low: float
    high: float


CODECS: dict[str, _Codec] = {
    "jpeg": _Codec("JPEG 4:2:0 (Pillow, live)", "JPEG", "jpg", {"optimize": True, "subsampling": "4:2:0"},
                   "quality", 1, 95),
    "jpeg444": _Codec("JPEG 4:4:4 (Pillow, live)", "JPEG", "jpg", {"optimize": True, "subsampling": "4:4:4"},
                      "quality", 1, 95),
    "webp": _Codec("WebP (Pillow, live)", "WEBP", "webp", {"method": 4}, "quality", 0, 100),
    "jpeg2000": _Codec("JPEG 2000 9/7 (Pillow/OpenJPEG, live)", "JPEG2000", "jpg_2000",
                       {"irreversible": True, "mct": 1, "quality_mode": "rates", "no_jp2": True},
                       "quality_layers", 1.0, 1e4),
    "avif": _Codec("AVIF 4:4:4 (Pillow/libavif, live)", "AVIF", "avif", {"subsampling": "4:4:4", "speed": 6},
                   "quality", 0, 100),
}

_RATIO_TOLERANCE = 0.005
_RATIO_STEPS = 6


def available_codecs() -> list[str]:
    """The codecs of :data:`CODECS` that this Pillow build supports (AVIF needs Pillow >= 11.3 built
    with libavif)."""
    return [name for name, codec in CODECS.items() if features.check(codec.feature)]


def _codec(name: str) -> _Codec:
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; expected one of {sorted(CODECS)}")
    codec = CODECS[name]
    if not features.check(codec.feature):
        raise RuntimeError(
            f"this Pillow ({PIL.__version__}) has no {name} support (PIL.features.check({codec.feature!r}) is False); "
            f"leave {name!r} out, available here: {available_codecs()}"
        )
    return codec


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TypeError(
            f"image must be an (H, W, 3) uint8 array, got {getattr(image, 'dtype', type(image).__name__)} "
            f"{getattr(image, 'shape', '')}"
        )


@dataclass(frozen=True, eq=False)
class ClassicResult:
    """One image coded by one codec: the chosen rate parameter, the file and the measurements.

    ``parameter``: quality (jpeg, webp, avif) or compression ratio (jpeg2000); ``decoded``: (H, W, 3)
    uint8; ``ms_ssim``: NaN for images with a side < 161; times in seconds."""

    codec: str
    parameter: int | float
    target_bpp: float
    num_bytes: int
    bpp: float
    psnr: float
    ms_ssim: float
    encoding_time: float
    decoding_time: float
    data: bytes = field(repr=False)
    decoded: np.ndarray = field(repr=False)


class _Encoder:
    """Encodes one image with one codec at any parameter, remembering every (bytes, seconds)."""

    def __init__(self, image: np.ndarray, name: str, options: dict | None):
        _check_image(image)
        self.name, self.codec, self.image = name, _codec(name), image
        self.options = {**self.codec.options, **(options or {})}
        self.pil = Image.fromarray(image)
        self.pixels = image.shape[0] * image.shape[1]
        self.cache: dict[float, tuple[bytes, float]] = {}

    def encode(self, parameter: float) -> tuple[bytes, float]:
        if parameter not in self.cache:
            value = [parameter] if self.codec.parameter == "quality_layers" else int(parameter)
            buffer = io.BytesIO()
            start = time.perf_counter()
            self.pil.save(buffer, format=self.codec.pillow_format, **{self.codec.parameter: value}, **self.options)
            self.cache[parameter] = (buffer.getvalue(), time.perf_counter() - start)
        return self.cache[parameter]

    def bpp(self, parameter: float) -> float:
        return len(self.encode(parameter)[0]) * 8.0 / self.pixels

    def search(self, target_bpp: float) -> float:
        """The parameter whose rate is closest (in log) to ``target_bpp``."""
        if self.codec.parameter == "quality_layers":
            return self._search_ratio(target_bpp)
        return self._search_quality(target_bpp)

    def _closest(self, candidates, target_bpp: float) -> float:
        return min(candidates, key=lambda p: (abs(math.log(self.bpp(p) / target_bpp)), p))

    def _search_quality(self, target_bpp: float) -> int:
        lo, hi = int(self.codec.low), int(self.codec.high)
        if self.bpp(lo) >= target_bpp:
            return lo
        if self.bpp(hi) <= target_bpp:
            return hi
        for known in sorted(self.cache):  # narrow the bracket with settings coded for earlier targets
            if lo < known < hi:
                lo, hi = (known, hi) if self.bpp(known) <= target_bpp else (lo, known)
        while hi - lo > 1:  # invariant: bpp(lo) <= target < bpp(hi)
            mid = (lo + hi) // 2
            if self.bpp(mid) <= target_bpp:
                lo = mid
            else:
                hi = mid
        return self._closest((lo, hi), target_bpp)

    def _search_ratio(self, target_bpp: float) -> float:
        ratio, tried = 24.0 / target_bpp, []
        for _ in range(_RATIO_STEPS):
            ratio = float(min(max(ratio, self.codec.low), self.codec.high))
            tried.append(ratio)
            achieved = self.bpp(ratio)
            if abs(achieved / target_bpp - 1.0) <= _RATIO_TOLERANCE:
                break
            ratio *= achieved / target_bpp
        return self._closest(tried, target_bpp)

    def result(self, parameter: float, target_bpp: float) -> ClassicResult:
        data, encoding_time = self.encode(parameter)
        start = time.perf_counter()
        with Image.open(io.BytesIO(data)) as decoded_image:
            decoded_image.load()
            decoding_time = time.perf_counter() - start
            decoded = np.asarray(decoded_image.convert("RGB"), dtype=np.uint8)
        small = min(self.image.shape[:2]) < metrics.MS_SSIM_MIN_SIDE
        return ClassicResult(
            codec=self.name, parameter=parameter, target_bpp=target_bpp, num_bytes=len(data),
            bpp=metrics.bpp(len(data), *self.image.shape[:2]), psnr=metrics.psnr(self.image, decoded),
            ms_ssim=math.nan if small else metrics.ms_ssim(self.image, decoded),
            encoding_time=encoding_time, decoding_time=decoding_time, data=data, decoded=decoded,
        )


def _check_target(target_bpp: float) -> float:
    target_bpp = float(target_bpp)
    if not (math.isfinite(target_bpp) and target_bpp > 0):
        raise ValueError(f"target bpp must be positive and finite, got {target_bpp}")
    return target_bpp


def encode_at_bpp(image: np.ndarray, codec: str, target_bpp: float, options: dict | None = None) -> ClassicResult:
    """Code ``image`` ((H, W, 3) uint8 RGB) with ``codec`` at the setting closest to ``target_bpp``."""
    target_bpp = _check_target(target_bpp)
    encoder = _Encoder(image, codec, options)
    return encoder.result(encoder.search(target_bpp), target_bpp)


_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")


def _record(name: str, r: ClassicResult) -> dict:
    return {"image": name, "height": int(r.decoded.shape[0]), "width": int(r.decoded.shape[1]),
            "parameter": r.parameter, "bytes": r.num_bytes, "bpp": r.bpp, "psnr-rgb": r.psnr,
            "ms-ssim-rgb": r.ms_ssim, "encoding_time": r.encoding_time, "decoding_time": r.decoding_time}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def rd_curve(
    images: list[np.ndarray],
    codec: str,
    target_bpps: list[float],
    names: list[str] | None = None,
    options: dict | None = None,
    progress: bool = False,
    image_targets: dict[str, list[float]] | None = None,
) -> dict:
    """R-D curve of ``codec`` over ``images`` in CompressAI's results format.

    One rate point per target bpp (ascending): each image is coded at its own setting closest to the
    target, and ``results`` holds the means over the images of ``bpp``, ``psnr-rgb`` (mean of the dB
    values), ``ms-ssim-rgb`` (NaN-skipping), ``encoding_time`` and ``decoding_time`` (seconds);
    per-image records are under ``points``. A target that gives every image the same setting as a
    lower target (the codec's range end) adds no point. ``name`` is the codec key (e.g. ``"jpeg"``),
    ``label`` a legend text.

    ``image_targets`` (``{name: [bpp, ...]}``) codes one image at more rates of its own (e.g. the
    rates a learned codec reached on that image, for per-image comparisons at the same rate); those
    records are under ``image_points`` (not in the means)."""
    codec_spec = _codec(codec)
    if not images:
        raise ValueError("no images given")
    names = list(names) if names is not None else [f"image{i}" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} images")
    targets = sorted({_check_target(t) for t in target_bpps})
    if not targets:
        raise ValueError("no target bpp given")
    image_targets = image_targets or {}
    unknown = sorted(set(image_targets) - set(names))
    if unknown:
        raise ValueError(f"image_targets names images that are not given: {unknown}")
    own = {name: sorted({_check_target(t) for t in ts}) for name, ts in image_targets.items()}
    encoders = [_Encoder(image, codec, options) for image in images]
    bar = tqdm(total=len(targets) * len(images) + sum(map(len, own.values())), desc=codec, unit="code",
               disable=not progress)
    points, seen = [], set()
    for target in targets:
        chosen = tuple(encoder.search(target) for encoder in encoders)
        if chosen in seen:
            bar.update(len(images))
            continue
        seen.add(chosen)
        records = []
        for name, encoder, parameter in zip(names, encoders, chosen):
            records.append(_record(name, encoder.result(parameter, target)))
            bar.update(1)
        points.append({"target_bpp": target, **{k: _mean([r[k] for r in records]) for k in _KEYS},
                       "images": records})
    image_points = []
    for name, encoder in zip(names, encoders):
        for target in own.get(name, ()):
            image_points.append({"target_bpp": target, **_record(name, encoder.result(encoder.search(target), target))})
            bar.update(1)
    bar.close()
    options_text = ", ".join(f"{k}={v}" for k, v in {**codec_spec.options, **(options or {})}.items())
    return {
        "name": codec,
        "label": codec_spec.label,
        "description": (
            f"{codec_spec.label}: Pillow {PIL.__version__}, {codec_spec.pillow_format} with {options_text}; "
            f"{codec_spec.parameter} searched per image for the target bpp; means over {len(images)} image(s); "
            "bpp from the file bytes, PSNR / MS-SSIM on 8-bit RGB"
        ),
        "results": {k: [p[k] for p in points] for k in _KEYS},
        "points": points,
        **({"image_points": image_points} if image_targets else {}),
    }
