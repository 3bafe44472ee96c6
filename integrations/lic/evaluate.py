"""Evaluate LIC models on an image folder: real bytes, PSNR / MS-SSIM, times, JSON, R-D plot, BD-rate.

For every model (one rate point each, e.g. one checkpoint per quality) and every image: compress to
bytes, decompress, and record bpp from the byte count (container header included), RGB 8-bit
PSNR and MS-SSIM of the decoded image, encode / decode wall time, and whether the decoded image
equals the encoder-side reconstruction. The results JSON is in CompressAI's format (means per rate
point under ``results``) with per-image records under ``points``. Classic codecs (Pillow: JPEG,
WebP, JPEG 2000, AVIF) are encoded live on the same images at the model's mean rates plus a fixed
grid, and the published anchor curves are added when the data set is Kodak (or Tecnick / CLIC:
:func:`anchor_dataset` maps a folder name onto the anchor sets).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..compression import bdrate, classic, datasets, metrics, results
from ..compression.imageio import load_rgb, load_rgb_uint8, to_uint8

from .codec import compress_image, decompress_image, is_untrained
from .model import WeConveneLIC

__all__ = ["evaluate_model", "model_curve", "run_evaluation", "anchor_dataset", "CLASSIC_GRID_BPP", "psnr_at",
           "matched_rate_table", "versus_table"]

# Extra target rates for the classic codecs' curves (besides the model's own rates).
CLASSIC_GRID_BPP = (0.25, 0.5, 1.0)


def evaluate_model(model: WeConveneLIC, paths: list[Path], progress: bool = True) -> list[dict]:
    """Per-image records for ``model`` on ``paths``."""
    records = []
    for path in tqdm(paths, desc=f"{model.name} q{model.quality}", unit="img", disable=not progress):
        x = load_rgb(path)
        H, W = x.shape[-2:]
        with torch.no_grad():
            start = time.perf_counter()
            data, x_enc = compress_image(model, x)
            enc = time.perf_counter() - start
            start = time.perf_counter()
            x_dec = decompress_image(model, data)
            dec = time.perf_counter() - start
        original, decoded = to_uint8(x), to_uint8(x_dec)
        records.append({
            "image": Path(path).name, "height": int(H), "width": int(W), "bytes": len(data),
            "bpp": metrics.bpp(len(data), H, W), "psnr-rgb": metrics.psnr(original, decoded),
            "ms-ssim-rgb": _ms_ssim(original, decoded), "encoding_time": enc, "decoding_time": dec,
            "bit_exact": bool(torch.equal(x_enc, x_dec)),
        })
    return records


def _ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    try:
        return float(metrics.ms_ssim(a, b))
    except (ValueError, AssertionError):  # MS-SSIM's 5 scales need images of at least 161 x 161
        return math.nan


def _mean(records: list[dict], key: str) -> float:
    values = [r[key] for r in records if not (isinstance(r[key], float) and math.isnan(r[key]))]
    return float(np.mean(values)) if values else math.nan


def model_curve(models: list[WeConveneLIC], per_model: list[list[dict]], dataset: str) -> dict:
    """CompressAI-format results of the rate points, sorted by rate, with per-image records."""
    points = []
    for model, records in zip(models, per_model):
        points.append({
            "model_id": model.model_id, "quality": model.quality, "lambda": model.lmbda,
            "untrained": is_untrained(model), "images": records,
            **{k: _mean(records, k) for k in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")},
        })
    points.sort(key=lambda p: p["bpp"])
    untrained = any(p["untrained"] for p in points)
    name = models[0].name + (" (UNTRAINED)" if untrained else "")
    keys = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
    return {
        "name": name,
        "description": f"wavelayers 3DM-WeConvene ({models[0].name}) on {dataset}, bpp from the actual .wlic bytes"
                       + ("; UNTRAINED weights: rates and quality are meaningless" if untrained else ""),
        "results": {k: [p[k] for p in points] for k in keys},
        "points": points,
    }


def run_evaluation(
    models: list[WeConveneLIC],
    data: str | os.PathLike | list[Path],
    *,
    out: str | os.PathLike,
    plot: str | os.PathLike | None = None,
    classic_codecs: list[str] | tuple[str, ...] = ("jpeg", "webp", "jpeg2000", "avif"),
    anchor: str | None = None,
    limit: int | None = None,
    dataset_name: str | None = None,
    classic_grid: tuple[float, ...] = CLASSIC_GRID_BPP,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Evaluate ``models`` on ``data`` (a folder or a list of image paths); write the results JSON
    ``out`` (and the R-D plot ``plot``); return a short summary (means, BD-rates, files written)."""
    for path in (out, plot):
        if path is not None and not force and Path(path).exists():
            raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    paths = list(data) if isinstance(data, list) else datasets.list_images(data)
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise ValueError(f"no images to evaluate in {data}")
    dataset = dataset_name or (Path(data).name if not isinstance(data, list) else "images")
    curve = model_curve(models, [evaluate_model(m, paths, progress) for m in models], dataset)

    arrays = [load_rgb_uint8(p) for p in paths]
    names = [p.name for p in paths]
    targets = sorted({round(b, 4) for b in curve["results"]["bpp"] if b > 0} | set(classic_grid))
    classic_curves = [
        classic.rd_curve(arrays, codec, targets, names=names, progress=progress) for codec in classic_codecs
    ]
    anchors = results.published_anchors(anchor_dataset(dataset))
    bd = _bd_rates(curve, classic_curves + anchors, anchor)

    document = {**curve, "dataset": dataset, "images": [p.name for p in paths], "classic": classic_curves,
                "bd_rate": bd}
    results.write_results(out, document, force=force)
    if plot is not None:
        title = f"{dataset}: {len(paths)} image(s)" + (" — UNTRAINED model" if "UNTRAINED" in curve["name"] else "")
        results.plot_rd([curve, *classic_curves, *anchors], plot, metric="psnr-rgb", title=title, force=force)
    return {
        "model": curve["name"], "dataset": dataset, "images": len(paths),
        "points": [{k: p[k] for k in ("quality", "bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
                                       "decoding_time")} | {"bit_exact": all(r["bit_exact"] for r in p["images"])}
                   for p in curve["points"]],
        "matched_rate": [
            {"quality": p["quality"], "bpp": p["bpp"], "psnr-rgb": p["psnr-rgb"]}
            | {c["name"]: psnr_at(c["results"], p["bpp"]) for c in classic_curves}
            for p in curve["points"]
        ],
        "bd_rate": bd, "results": str(out), "plot": str(plot) if plot else None,
    }


def psnr_at(curve: dict, bpp: float) -> float | None:
    """PSNR of a curve (``{"bpp": [...], "psnr-rgb": [...]}``) at ``bpp``, linearly interpolated
    between its two nearest points; None outside the rates it covers."""
    points = sorted((b, q) for b, q in zip(curve["bpp"], curve["psnr-rgb"]) if math.isfinite(b) and math.isfinite(q))
    if not points or not points[0][0] <= bpp <= points[-1][0]:
        return None
    return float(np.interp(bpp, [b for b, _ in points], [q for _, q in points]))


def matched_rate_table(summary: dict) -> str:
    """Markdown table of :func:`run_evaluation`'s ``matched_rate``: the model's PSNR at each of its
    rates next to each classic codec's PSNR at the same rate and the difference (model - codec)."""
    rows = summary["matched_rate"]
    codecs = [k for k in rows[0] if k not in ("quality", "bpp", "psnr-rgb")] if rows else []
    head = "| quality | bpp | PSNR (dB) | " + " | ".join(f"{c} (dB) | Δ {c}" for c in codecs) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(codecs))]
    for r in rows:
        cells = [f"{r['quality']}", f"{r['bpp']:.4f}", f"{r['psnr-rgb']:.2f}"]
        for c in codecs:
            v = r[c]
            cells += ["n/a (rate out of its range)", ""] if v is None else [f"{v:.2f}", f"{r['psnr-rgb'] - v:+.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versus_table(candidate: dict, reference: dict) -> str:
    """Markdown table: at each rate point of the ``reference`` results (a results JSON of
    :func:`run_evaluation`), its bpp and PSNR, the ``candidate``'s PSNR at that bpp (linearly
    interpolated along the candidate's points, n/a outside them) and the difference (candidate - reference)."""
    lines = [f"| {reference['name']} quality | bpp | PSNR (dB) | {candidate['name']} at that bpp (dB) | Δ |",
             "|---|---|---|---|---|"]
    for p in reference["points"]:
        v = psnr_at(candidate["results"], p["bpp"])
        cells = ["n/a (rate out of its range)", ""] if v is None else [f"{v:.2f}", f"{v - p['psnr-rgb']:+.2f}"]
        lines.append(f"| {p['quality']} | {p['bpp']:.4f} | {p['psnr-rgb']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def anchor_dataset(name: str) -> str:
    """The anchor folder for a data set name: 'kodak', 'tecnick', 'clic2020-professional' or ``name``."""
    lowered = name.lower()
    for key, folder in (("kodak", "kodak"), ("tecnick", "tecnick"), ("clic", "clic2020-professional")):
        if key in lowered:
            return folder
    return lowered


def _bd_rates(curve: dict, references: list[dict], anchor: str | None) -> dict:
    """BD-rate (%, piecewise cubic) of the model against ``anchor`` (or every reference); a reason
    string instead of a number where it cannot be computed (e.g. fewer than 4 rate points)."""
    chosen = references
    if anchor is not None:
        chosen = [r for r in references
                  if anchor.lower() in {r["name"].lower(), str(r.get("label", "")).lower(),
                                        str(r.get("anchor", "")).split("/")[-1].lower()}]
        if not chosen and Path(anchor).is_file():
            chosen = [results.read_results(anchor)]
        if not chosen:
            known = [r.get("anchor", r["name"]).split("/")[-1] for r in references]
            raise ValueError(f"unknown BD-rate anchor {anchor!r}: expected one of {known} or a results JSON file")
    out = {}
    for ref in chosen:
        try:
            out[ref["name"]] = bdrate.bd_rate(ref, curve)
        except ValueError as e:
            out[ref["name"]] = f"n/a ({e})"
    return out
