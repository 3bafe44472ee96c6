"""UVG-style evaluation: every sequence cut into GOPs, each GOP coded to one file and decoded.

Per frame: bpp from the frame's own stream bytes, PSNR (RGB, 8-bit) and MS-SSIM; per sequence and
overall: means over all frames, I-frames included (the DVC protocol), and the mean bpp from the
GOP files' sizes. The decoded frames are checked against the encoder's (bit-exact) for every GOP.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..toolkit.files import write_atomic

from .data import list_frames, read_frames
from .gop import decode_gop, encode_gop, gop_metrics
from .model import DVC

__all__ = ["evaluate_frames", "evaluate_sequences"]


def evaluate_frames(model: DVC, frames: Sequence[np.ndarray], gop: int, iframe_codec: str = "jpeg",
                    iframe_quality: int = 90, out_dir: str | os.PathLike | None = None, stem: str = "seq",
                    force: bool = False) -> dict:
    """Code ``frames`` GOP by GOP; returns per-frame lists and means (see module doc). With ``out_dir``,
    GOP ``k`` is written to ``out_dir/<stem>_gop<k>.dvc``."""
    if gop < 1:
        raise ValueError(f"gop must be >= 1, got {gop}")
    per = {"bpp": [], "psnr-rgb": [], "ms-ssim-rgb": [], "encoding_time": [], "decoding_time": []}
    file_bytes = 0
    for k, start in enumerate(range(0, len(frames), gop)):
        chunk = list(frames[start:start + gop])
        coding = encode_gop(model, chunk, iframe_codec, iframe_quality)
        t0 = time.perf_counter()
        decoded = decode_gop(model, coding.data)
        dec_seconds = time.perf_counter() - t0
        if any(not np.array_equal(a, b) for a, b in zip(decoded, coding.frames)):
            raise RuntimeError(f"{stem} GOP {k}: the decoder's frames differ from the encoder's")
        if out_dir is not None:
            write_atomic(Path(out_dir) / f"{stem}_gop{k}.dvc", coding.data, force=force)
        m = gop_metrics(chunk, coding)
        for key in ("bpp", "psnr-rgb", "ms-ssim-rgb"):
            per[key] += m[key]
        per["encoding_time"] += coding.seconds
        per["decoding_time"] += [dec_seconds / len(chunk)] * len(chunk)
        file_bytes += len(coding.data)
    h, w = frames[0].shape[:2]
    means = {key: float(np.mean(v)) for key, v in per.items()}
    means["bpp_file"] = file_bytes * 8.0 / (len(frames) * h * w)
    return {"frames": per, "mean": means}


def evaluate_sequences(model: DVC, roots: Sequence[Path], gop: int, max_frames: int | None, iframe_codec: str,
                       iframe_quality: int, out_dir: str | os.PathLike | None = None, progress=None,
                       force: bool = False) -> dict:
    """Evaluate every sequence folder in ``roots``; returns a CompressAI-format curve with one point
    (means over all frames of all sequences) and the per-sequence records under ``sequences``."""
    sequences, all_frames = {}, {k: [] for k in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")}
    for root in (progress(roots) if progress else roots):
        paths = list_frames(root)[:max_frames]
        result = evaluate_frames(model, read_frames(paths), gop, iframe_codec, iframe_quality, out_dir, root.name, force)
        sequences[root.name] = result
        for k in all_frames:
            all_frames[k] += result["frames"][k]
    return {
        "name": model.model_id,
        "description": f"DVC {model.name} wavelet={model.config.wavelet}, GOP {gop}, I-frames {iframe_codec} "
                       f"q{iframe_quality}; means over all frames incl. I-frames",
        "results": {k: [float(np.mean(v))] for k, v in all_frames.items()},
        "sequences": sequences,
    }
