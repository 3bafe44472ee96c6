"""Evaluate LIC models on an image folder: real bytes, PSNR / MS-SSIM, times, JSON, R-D plot, BD-rate.

For every model (one rate point each, e.g. one checkpoint per quality) and every image: compress to
bytes, decompress, and record bpp from the byte count (container header included), RGB 8-bit
PSNR and MS-SSIM of the decoded image, encode / decode wall time, and whether the decoded image
equals the encoder-side reconstruction. With ``refine`` > 0 every image is coded a second time
with encoder-side refinement (:func:`.refine.compress_refined`, that many steps; the decoder is
unchanged), and the refined curve is reported beside the plain one. The results JSON is in
CompressAI's format (means per rate point under ``results``) with per-image records under ``points``.
Classic codecs (Pillow: JPEG, WebP, JPEG 2000, AVIF) are encoded live on the same images at the
model's mean rates plus a fixed grid, and the published anchor curves are added when the data set
is Kodak (or Tecnick / CLIC: :func:`anchor_dataset` maps a folder name onto the anchor sets).
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
from .refine import DEFAULT_LR, check_schedule, compress_refined

__all__ = ["evaluate_model", "model_curve", "run_evaluation", "anchor_dataset", "CLASSIC_GRID_BPP", "CLASSIC_CODECS",
           "psnr_at", "matched_rate_table", "versus_table", "per_image_deltas", "per_image_table"]

# Extra target rates for the classic codecs' curves (besides the model's own rates).
CLASSIC_GRID_BPP = (0.25, 0.5, 1.0)
# The classic codecs an evaluation codes by default (JPEG both ways: beating JPEG means beating both).
CLASSIC_CODECS = ("jpeg", "jpeg444", "webp", "jpeg2000", "avif")


def evaluate_model(
    model: WeConveneLIC, paths: list[Path], progress: bool = True, refine: int = 0, refine_lr: float = DEFAULT_LR,
    refine_lr_end: float | None = None,
) -> list[dict]:
    """Per-image records for ``model`` on ``paths``; ``refine`` > 0: each image's latents refined for
    that many steps (Adam step ``refine_lr`` decayed geometrically to ``refine_lr_end``, default
    constant) before coding (the encode time includes the refinement)."""
    check_schedule(refine, refine_lr, refine_lr_end)
    records = []
    desc = f"{model.name} q{model.quality}" + (f" refine {refine}" if refine else "")
    for path in tqdm(paths, desc=desc, unit="img", disable=not progress):
        x = load_rgb(path)
        H, W = x.shape[-2:]
        start = time.perf_counter()
        if refine:
            data, x_enc, _ = compress_refined(model, x, refine, lr=refine_lr, lr_end=refine_lr_end)
        else:
            with torch.no_grad():
                data, x_enc = compress_image(model, x)
        enc = time.perf_counter() - start
        with torch.no_grad():
            start = time.perf_counter()
            x_dec = decompress_image(model, data)
            dec = time.perf_counter() - start
        original, decoded = to_uint8(x), to_uint8(x_dec)
        records.append({
            "image": Path(path).name, "height": int(H), "width": int(W), "bytes": len(data),
            "bpp": metrics.bpp(len(data), H, W), "psnr-rgb": metrics.psnr(original, decoded),
            "ms-ssim-rgb": _ms_ssim(original, decoded), "encoding_time": enc, "decoding_time": dec,
            "bit_exact": bool(torch.equal(x_enc, x_dec)), "refine_steps": refine,
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


def model_curve(models: list[WeConveneLIC], per_model: list[list[dict]], dataset: str, refine: int = 0) -> dict:
    """CompressAI-format results of the rate points, sorted by rate, with per-image records
    (``refine``: the refinement steps the records were coded with, named in the curve's name)."""
    points = []
    for model, records in zip(models, per_model):
        points.append({
            "model_id": model.model_id, "quality": model.quality, "lambda": model.lmbda,
            "untrained": is_untrained(model), "images": records,
            **{k: _mean(records, k) for k in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")},
        })
    points.sort(key=lambda p: p["bpp"])
    untrained = any(p["untrained"] for p in points)
    name = models[0].name + (f" + refine {refine}" if refine else "") + (" (UNTRAINED)" if untrained else "")
    keys = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
    return {
        "name": name,
        "description": f"wavelayers 3DM-WeConvene ({models[0].name}) on {dataset}, bpp from the actual .wlic bytes"
                       + (f"; latents refined for {refine} steps at the encoder (decoder unchanged)" if refine else "")
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
    classic_codecs: list[str] | tuple[str, ...] = CLASSIC_CODECS,
    anchor: str | None = None,
    limit: int | None = None,
    dataset_name: str | None = None,
    classic_grid: tuple[float, ...] = CLASSIC_GRID_BPP,
    force: bool = False,
    progress: bool = True,
    refine: int = 0,
    refine_lr: float = DEFAULT_LR,
    refine_lr_end: float | None = None,
) -> dict:
    """Evaluate ``models`` on ``data`` (a folder or a list of image paths); write the results JSON
    ``out`` (and the R-D plot ``plot``); return a short summary (means, BD-rates, files written).

    ``refine`` > 0 codes every image a second time with that many refinement steps: the results
    JSON then holds that curve under ``"refined"`` (same format, with its own ``bd_rate``), the plot
    draws it, and the summary has it under ``"refined"``; ``refine_lr`` / ``refine_lr_end``: the
    Adam step of the refinement, decayed geometrically (default constant), recorded there too."""
    check_schedule(refine, refine_lr, refine_lr_end)
    for path in (out, plot):
        if path is not None and not force and Path(path).exists():
            raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    paths = list(data) if isinstance(data, list) else datasets.list_images(data)
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise ValueError(f"no images to evaluate in {data}")
    dataset = dataset_name or (Path(data).name if not isinstance(data, list) else "images")
    curves = [model_curve(models, [evaluate_model(m, paths, progress) for m in models], dataset)]
    if refine:
        records = [evaluate_model(m, paths, progress, refine, refine_lr, refine_lr_end) for m in models]
        curves.append(model_curve(models, records, dataset, refine))

    arrays = [load_rgb_uint8(p) for p in paths]
    names = [p.name for p in paths]
    targets = sorted({round(b, 4) for c in curves for b in c["results"]["bpp"] if b > 0} | set(classic_grid))
    own_rates = {name: sorted({r["bpp"] for c in curves for p in c["points"] for r in p["images"]
                               if r["image"] == name and r["bpp"] > 0}) for name in names}
    classic_curves = [
        classic.rd_curve(arrays, codec, targets, names=names, progress=progress, image_targets=own_rates)
        for codec in classic_codecs
    ]
    anchors = results.published_anchors(anchor_dataset(dataset))
    bd = [_bd_rates(c, classic_curves + anchors, anchor) for c in curves]

    document = {**curves[0], "dataset": dataset, "images": [p.name for p in paths], "classic": classic_curves,
                "bd_rate": bd[0]}
    if refine:
        schedule = {"refine_steps": refine, "refine_lr": refine_lr,
                    "refine_lr_end": refine_lr if refine_lr_end is None else refine_lr_end}
        document["refined"] = {**curves[1], **schedule, "bd_rate": bd[1]}
    results.write_results(out, document, force=force)
    if plot is not None:
        untrained = "UNTRAINED" in curves[0]["name"]
        title = f"{dataset}: {len(paths)} image(s)" + (" — UNTRAINED model" if untrained else "")
        results.plot_rd([*curves, *classic_curves, *anchors], plot, metric="psnr-rgb", title=title, force=force)
    summaries = [_curve_summary(c, classic_curves, b) for c, b in zip(curves, bd)]
    summary = {"model": curves[0]["name"], "dataset": dataset, "images": len(paths), **summaries[0],
               "results": str(out), "plot": str(plot) if plot else None}
    if refine:
        summary["refined"] = {"model": curves[1]["name"], **schedule, **summaries[1]}
    return summary


def _curve_summary(curve: dict, classic_curves: list[dict], bd: dict) -> dict:
    """A model curve's mean points, its PSNR next to each classic codec's at the same rates, its BD-rates."""
    return {
        "points": [{k: p[k] for k in ("quality", "bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
                                       "decoding_time")} | {"bit_exact": all(r["bit_exact"] for r in p["images"])}
                   for p in curve["points"]],
        "matched_rate": [
            {"quality": p["quality"], "bpp": p["bpp"], "psnr-rgb": p["psnr-rgb"]}
            | {c["name"]: psnr_at(c["results"], p["bpp"]) for c in classic_curves}
            for p in curve["points"]
        ],
        "bd_rate": bd,
    }


def _finite_points(curve: dict) -> list[tuple[float, float]]:
    """``(bpp, PSNR)`` pairs of a curve (``{"bpp": [...], "psnr-rgb": [...]}``), finite ones only, by rate."""
    return sorted((b, q) for b, q in zip(curve["bpp"], curve["psnr-rgb"]) if math.isfinite(b) and math.isfinite(q))


def psnr_at(curve: dict, bpp: float) -> float | None:
    """PSNR of a curve (``{"bpp": [...], "psnr-rgb": [...]}``) at ``bpp``, linearly interpolated
    between its two nearest points; None outside the rates it covers."""
    points = _finite_points(curve)
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


def per_image_deltas(document: dict) -> list[dict]:
    """Per image and rate point of a results JSON of :func:`run_evaluation` (the plain curve, then the
    refined one if any): ``{"refine_steps", "quality", "image", "bpp", "psnr-rgb", <codec>: Δ}``, Δ the
    model's PSNR minus the classic codec's on the same image at the same bpp (that image's points of
    the codec's curve and its ``image_points``, coded at this image's own rates by :func:`run_evaluation`,
    interpolated linearly; None outside them). Outside them ``"bounds"`` holds
    ``{<codec>: (">=", Δ) or ("<=", Δ)}``: Δ against the codec's lowest-rate point where the model's
    rate is below every point of the codec (a lower bound, as a codec's PSNR does not rise as its
    rate falls), against its highest-rate point where it is above them (an upper bound)."""
    def own_points(curve: dict, image: str) -> dict:
        records = [r for p in curve["points"] for r in p["images"] if r["image"] == image]
        records += [r for r in curve.get("image_points", ()) if r["image"] == image]
        return {"bpp": [r["bpp"] for r in records], "psnr-rgb": [r["psnr-rgb"] for r in records]}

    classic_per_image = {c["name"]: {image: own_points(c, image) for image in document["images"]}
                         for c in document["classic"]}
    rows = []
    for curve in (document, document.get("refined")):
        if curve is None:
            continue
        for p in curve["points"]:
            for r in p["images"]:
                row = {"refine_steps": r.get("refine_steps", 0), "quality": p["quality"], "image": r["image"],
                       "bpp": r["bpp"], "psnr-rgb": r["psnr-rgb"], "bounds": {}}
                for codec, per_image in classic_per_image.items():
                    v = psnr_at(per_image[r["image"]], r["bpp"])
                    row[codec] = None if v is None else r["psnr-rgb"] - v
                    if v is None:
                        bound = _bound_outside(per_image[r["image"]], r["bpp"], r["psnr-rgb"])
                        if bound is not None:
                            row["bounds"][codec] = bound
                rows.append(row)
    return rows


def _bound_outside(curve: dict, bpp: float, psnr: float) -> tuple[str, float] | None:
    """``(">=", psnr - PSNR of the curve's lowest-rate point)`` for a ``bpp`` below all its points,
    ``("<=", psnr - PSNR of its highest-rate point)`` above them; None for a curve without points."""
    points = _finite_points(curve)
    if not points:
        return None
    return (">=", psnr - points[0][1]) if bpp < points[0][0] else ("<=", psnr - points[-1][1])


def per_image_table(document: dict) -> str:
    """Markdown table of :func:`per_image_deltas`, ordered by refinement steps, quality and image;
    outside a codec's points its bound (``≥ +1.20``: every point of the codec on this image has a
    higher rate, the lowest 1.2 dB less PSNR; with the image's own rates coded, as
    :func:`run_evaluation` does, that means the codec cannot code the image so small) or ``n/a``."""
    rows = sorted(per_image_deltas(document), key=lambda r: (r["refine_steps"], r["quality"], r["image"]))
    codecs = [c["name"] for c in document["classic"]]
    head = "| refine steps | quality | image | bpp | PSNR (dB) | " + " | ".join(f"Δ {c} (dB)" for c in codecs)
    lines = [head + " |",
             "|" + "---|" * (5 + len(codecs))]
    for r in rows:
        cells = [str(r["refine_steps"]), str(r["quality"]), r["image"], f"{r['bpp']:.4f}", f"{r['psnr-rgb']:.2f}"]
        cells += [f"{r[c]:+.2f}" if r[c] is not None else _bound_text(r["bounds"].get(c)) for c in codecs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _bound_text(bound: tuple[str, float] | None) -> str:
    return "n/a" if bound is None else f"{'≥' if bound[0] == '>=' else '≤'} {bound[1]:+.2f}"


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
