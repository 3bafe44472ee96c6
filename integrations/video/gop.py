"""A GOP (one I-frame, then P-frames) <-> one file; per-frame and mean bpp, PSNR, MS-SSIM.

File = C1's ``WLIC`` container (:mod:`integrations.compression.container`: magic, version, header,
stream lengths, CRC32) with

* header: ``model_id`` = the DVC model id (configuration + weights fingerprint), ``quality`` = the
  I-frame codec quality, ``height`` / ``width`` = the original frame size, ``channels`` = 3;
* streams: ``[meta, I-frame, (mv, z, y) per P-frame]``; ``meta`` is ASCII JSON
  ``{"format": "dvc-gop/1", "iframe_codec": ..., "frames": T, "threads": n}``.

Frames are (H, W, 3) uint8 arrays of any size: they are replicate-padded to multiples of 64 for
the model and cropped back. Every reconstruction is rounded to 8 bits (``to_uint8``) and that 8-bit
frame is the next P-frame's reference on both sides, so the decoder's frames equal the encoder's
exactly (same machine and software build; see docs/video.md). CPU float results depend on the
number of threads (the reduction split changes the last bits, and a pixel near a rounding boundary
then flips), so the encoder's ``torch.get_num_threads()`` is stored in the meta stream and the decoder
runs with that count.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..compression.container import MAX_STREAMS, BitstreamError, Header, pack, unpack
from ..compression.imageio import to_uint8
from ..compression.metrics import MS_SSIM_MIN_SIDE, ms_ssim, psnr

from .iframe import decode_iframe, encode_iframe
from .model import DVC, pad_frame

__all__ = ["GopCoding", "encode_gop", "decode_gop", "gop_metrics", "frame_tensor", "tensor_frame", "META_FORMAT", "MAX_GOP_FRAMES"]

META_FORMAT = "dvc-gop/1"
P_STREAMS = 3
MAX_GOP_FRAMES = 1 + (MAX_STREAMS - 2) // P_STREAMS


@dataclass
class GopCoding:
    """An encoded GOP: file bytes, the reconstructions (uint8) and the stream bytes of every frame."""

    data: bytes
    frames: list[np.ndarray]
    frame_bytes: list[int]
    seconds: list[float] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.frames[0].shape[0]

    @property
    def width(self) -> int:
        return self.frames[0].shape[1]

    def frame_bpp(self) -> list[float]:
        """Per-frame bpp from the frame's own stream bytes (container overhead excluded)."""
        return [8.0 * b / (self.height * self.width) for b in self.frame_bytes]

    def file_bpp(self) -> float:
        """Mean bpp of the GOP from the whole file size (header, lengths and CRC included)."""
        return 8.0 * len(self.data) / (len(self.frames) * self.height * self.width)


def _check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    if not 1 <= len(frames) <= MAX_GOP_FRAMES:
        raise ValueError(f"a GOP file holds 1..{MAX_GOP_FRAMES} frames, got {len(frames)}")
    first = frames[0]
    for i, f in enumerate(frames):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"frame {i} must be a (H, W, 3) uint8 array, got "
                             f"{getattr(f, 'dtype', type(f).__name__)} {getattr(f, 'shape', '')}")
        if f.shape != first.shape:
            raise ValueError(f"frame {i} has shape {f.shape}, frame 0 has {first.shape}")
    return first.shape[0], first.shape[1]


def frame_tensor(frame: np.ndarray, device: torch.device) -> Tensor:
    """(H, W, 3) uint8 -> (1, 3, H', W') float in [0, 1] on ``device``, replicate-padded to multiples of 64."""
    x = torch.from_numpy(np.array(frame, copy=True)).permute(2, 0, 1).unsqueeze(0).to(device, torch.float32)
    return pad_frame(x / 255.0)


def tensor_frame(x: Tensor, height: int, width: int) -> np.ndarray:
    """Padded (1, 3, H', W') reconstruction -> its top-left ``height x width`` as (H, W, 3) uint8."""
    return to_uint8(x[..., :height, :width])


def _device(model: DVC) -> torch.device:
    return next(model.parameters()).device


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch CPU threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def encode_gop(model: DVC, frames: Sequence[np.ndarray], iframe_codec: str = "jpeg",
               iframe_quality: int = 90) -> GopCoding:
    """Code ``frames`` (first: I-frame) into one file's bytes; the model needs CDF tables (``update()``)."""
    height, width = _check_frames(frames)
    device = _device(model)
    model.eval()
    start = time.perf_counter()
    i_stream = encode_iframe(frames[0], iframe_codec, iframe_quality)
    recon = [decode_iframe(i_stream, iframe_codec, (height, width))]
    seconds = [time.perf_counter() - start]
    streams, frame_bytes = [i_stream], [len(i_stream)]
    for frame in frames[1:]:
        start = time.perf_counter()
        p_streams, x_hat = model.encode_pframe(frame_tensor(frame, device), frame_tensor(recon[-1], device))
        recon.append(tensor_frame(x_hat, height, width))
        seconds.append(time.perf_counter() - start)
        streams += p_streams
        frame_bytes.append(sum(len(s) for s in p_streams))
    meta = {"format": META_FORMAT, "iframe_codec": iframe_codec, "frames": len(frames), "threads": torch.get_num_threads()}
    meta = json.dumps(meta).encode("ascii")
    header = Header(model_id=model.model_id, quality=iframe_quality, height=height, width=width, channels=3)
    return GopCoding(pack(header, [meta, *streams]), recon, frame_bytes, seconds)


def _read_meta(raw: bytes, num_streams: int) -> tuple[str, int, int]:
    try:
        meta = json.loads(raw.decode("ascii"))
        fmt, codec, frames, threads = meta["format"], meta["iframe_codec"], meta["frames"], meta["threads"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise BitstreamError(f"invalid GOP meta stream ({type(e).__name__}: {e})") from None
    if fmt != META_FORMAT:
        raise BitstreamError(f"unsupported GOP format {fmt!r} (this decoder reads {META_FORMAT!r})")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise BitstreamError(f"invalid frame count {frames!r} in the GOP meta stream")
    expected = 2 + P_STREAMS * (frames - 1)
    if num_streams != expected:
        raise BitstreamError(f"stream count mismatch: {frames} frames need {expected} streams, the file has {num_streams}")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 1024:
        raise BitstreamError(f"invalid thread count {threads!r} in the GOP meta stream")
    return codec, frames, threads


def decode_gop(model: DVC, data: bytes) -> list[np.ndarray]:
    """File bytes -> the GOP's frames ((H, W, 3) uint8); :class:`BitstreamError` for foreign or broken data."""
    header, streams = unpack(data, expected_model_id=model.model_id)
    if header.channels != 3:
        raise BitstreamError(f"unsupported channel count {header.channels} (DVC GOP files are RGB, 3)")
    if not streams:
        raise BitstreamError("stream count mismatch: the file has no streams (expected meta + I-frame + P-frames)")
    codec, frames, threads = _read_meta(streams[0], len(streams))
    size = (header.height, header.width)
    device = _device(model)
    model.eval()
    try:
        with _threads(threads):
            out = [decode_iframe(streams[1], codec, size)]
            for k in range(frames - 1):
                p_streams = streams[2 + P_STREAMS * k: 2 + P_STREAMS * (k + 1)]
                x_hat = model.decode_pframe(p_streams, frame_tensor(out[-1], device))
                out.append(tensor_frame(x_hat, *size))
    except ValueError as e:  # corrupt entropy-coded or image data the CRC did not catch
        raise BitstreamError(str(e)) from None
    return out


def gop_metrics(originals: Sequence[np.ndarray], coding: GopCoding) -> dict:
    """Per-frame bpp (own streams), PSNR (RGB, 8-bit) and MS-SSIM (``nan`` below 161 pixels a side),
    and their means; ``bpp_file`` is the mean from the file size."""
    if len(originals) != len(coding.frames):
        raise ValueError(f"{len(originals)} originals for {len(coding.frames)} coded frames")
    psnrs = [psnr(a, b) for a, b in zip(originals, coding.frames)]
    small = min(coding.height, coding.width) < MS_SSIM_MIN_SIDE
    ssims = [math.nan if small else ms_ssim(a, b) for a, b in zip(originals, coding.frames)]
    bpps = coding.frame_bpp()
    return {
        "bpp": bpps, "psnr-rgb": psnrs, "ms-ssim-rgb": ssims,
        "mean": {"bpp": float(np.mean(bpps)), "bpp_file": coding.file_bpp(),
                 "psnr-rgb": float(np.mean(psnrs)), "ms-ssim-rgb": float(np.mean(ssims))},
    }
