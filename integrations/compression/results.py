"""Rate-distortion curves in CompressAI's results format: JSON files, anchor curves and plots.

A curve is a dict ``{"name": str, "description": str, "results": {"bpp": [...], "psnr-rgb": [...],
"ms-ssim-rgb": [...], "encoding_time": [...], "decoding_time": [...]}}`` (one entry per rate
point, means over the images), the format of CompressAI's ``results/image/<dataset>/*.json``.
Extra keys (per-image records under ``points``, ``label`` for the plot legend, ``anchor`` for
published curves) are kept as they are. Non-finite numbers (e.g. MS-SSIM of images too small for
it) are written as JSON ``null`` and read back as ``None``.
"""
from __future__ import annotations

import io
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np

from .container import write_atomic

__all__ = ["DEFAULT_ANCHOR_ROOT", "check_curve", "curve_points", "write_results", "read_results",
           "load_anchor_curves", "published_anchors", "plot_rd"]

# <repo>/../shared/anchors/rd: <repo> is the folder that holds integrations/.
DEFAULT_ANCHOR_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "anchors" / "rd"

# Published curves drawn and used for BD-rates by default: file stem -> (short name, legend label);
# the other anchor files stay available through load_anchor_curves.
_PUBLISHED = {
    "vtm": ("VTM", "VTM (H.266/VVC test model)"),
    "bpg_444_x265_ycbcr": ("BPG", "BPG 4:4:4 (x265)"),
    "paper-weconvene2024_mse": ("WeConvene", "WeConvene (ECCV 2024, published)"),
    "paper-chwdta2026_mse": ("ChWDTA", "ChWDTA (2026, published)"),
    "compressai-mbt2018-mean_mse_cuda": ("mbt2018-mean", "mbt2018-mean (CompressAI, MSE)"),
    "compressai-cheng2020-anchor_mse_cuda": ("cheng2020-anchor", "cheng2020-anchor (CompressAI, MSE)"),
}


def check_curve(curve: dict, where: str = "curve") -> None:
    """Raise ValueError unless ``curve`` has a ``name`` and ``results`` with a ``bpp`` list and
    metric lists of the same length."""
    if not isinstance(curve, dict) or not isinstance(curve.get("name"), str):
        raise ValueError(f"{where}: expected a dict with a 'name' string")
    results = curve.get("results")
    if not isinstance(results, dict) or not isinstance(results.get("bpp"), list):
        raise ValueError(f"{where}: expected 'results' with a 'bpp' list, got keys {sorted(results or {})}")
    n = len(results["bpp"])
    bad = {k: len(v) for k, v in results.items() if not isinstance(v, list) or len(v) != n}
    if bad:
        raise ValueError(f"{where}: every 'results' list must have {n} entries like 'bpp', got {bad}")


def curve_points(curve: dict, metric: str = "psnr-rgb") -> tuple[np.ndarray, np.ndarray]:
    """``(bpp, metric values)`` float64 arrays of ``curve``; ``None`` becomes NaN.

    ``"ms-ssim-db-rgb"`` (``-10 log10(1 - MS-SSIM)``) is derived from ``"ms-ssim-rgb"`` when the
    curve does not hold it."""
    check_curve(curve, repr(curve.get("name")) if isinstance(curve, dict) else "curve")
    results = curve["results"]
    if metric in results:
        values = results[metric]
    elif metric == "ms-ssim-db-rgb" and "ms-ssim-rgb" in results:
        values = [None if v is None else (math.inf if v >= 1 else -10.0 * math.log10(1.0 - v))
                  for v in results["ms-ssim-rgb"]]
    else:
        raise ValueError(f"curve {curve['name']!r} has no {metric!r}; it has {sorted(results)}")
    return _floats(results["bpp"]), _floats(values)


def _floats(values: list) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, np.generic):
        return _finite_or_none(value.item())
    return value


def write_results(path: str | os.PathLike, data: dict, force: bool = False) -> None:
    """Write a results dict as indented JSON (atomic; refuses an existing ``path`` unless ``force``)."""
    check_curve(data, str(path))
    text = json.dumps(_finite_or_none(data), indent=2, allow_nan=False)
    write_atomic(path, (text + "\n").encode("utf-8"), force=force)


def read_results(path: str | os.PathLike) -> dict:
    """Read and check a results JSON file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON results file ({e})") from None
    check_curve(data, str(path))
    return data


def load_anchor_curves(dataset: str = "kodak", anchor_root: str | os.PathLike | None = None) -> dict[str, dict]:
    """Every anchor curve of ``dataset``: ``{file stem: curve}`` from ``<anchor_root>/<dataset>/*.json``.

    ``anchor_root`` defaults to :data:`DEFAULT_ANCHOR_ROOT` (``<repo>/../shared/anchors/rd``). A
    missing folder (unknown data set, or a checkout without the shared anchors) gives ``{}``;
    unreadable files are skipped with a warning. Each curve gets ``"anchor": "<dataset>/<stem>"``.
    """
    folder = Path(DEFAULT_ANCHOR_ROOT if anchor_root is None else anchor_root) / dataset.lower()
    if not folder.is_dir():
        return {}
    curves = {}
    for file in sorted(folder.glob("*.json")):
        try:
            curve = read_results(file)
        except (OSError, ValueError) as e:
            warnings.warn(f"skipping anchor file {file}: {e}", stacklevel=2)
            continue
        curves[file.stem] = {**curve, "anchor": f"{dataset.lower()}/{file.stem}"}
    return curves


def published_anchors(dataset: str, anchor_root: str | os.PathLike | None = None) -> list[dict]:
    """The anchor curves to draw beside a model on ``dataset`` (VTM, BPG, WeConvene, ChWDTA and two
    CompressAI models, where present) with short distinct names (``"VTM"``, ``"BPG"``, ...) and a
    legend ``label``; ``[]`` for a data set without anchors."""
    curves = load_anchor_curves(dataset, anchor_root)
    return [{**curves[stem], "name": name, "label": label}
            for stem, (name, label) in _PUBLISHED.items() if stem in curves]


def plot_rd(
    curves: list[dict], path: str | os.PathLike, metric: str = "psnr-rgb", title: str = "", force: bool = False
) -> None:
    """Plot ``metric`` against bpp for ``curves`` into a PNG (atomic; no overwrite unless ``force``).

    Legend entries use ``label`` when present, else ``name``; published anchors (curves with an
    ``anchor`` key) are dashed. Curves without ``metric`` are left out; non-finite points skipped.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not force and Path(path).exists():
        raise FileExistsError(f"{path} exists; pass --force (force=True) to overwrite it")
    figure = Figure(figsize=(7.5, 5.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    drawn = 0
    for curve in curves:
        try:
            rate, value = curve_points(curve, metric)
        except ValueError:
            continue
        keep = np.isfinite(rate) & np.isfinite(value)
        if not keep.any():
            continue
        order = np.argsort(rate[keep])
        ax.plot(rate[keep][order], value[keep][order], marker="o", markersize=3.5, linewidth=1.4,
                linestyle="--" if "anchor" in curve else "-", label=curve.get("label", curve["name"]))
        drawn += 1
    if drawn == 0:
        raise ValueError(f"none of the {len(curves)} curves has finite {metric!r} values to plot")
    ax.set_xlabel("bits per pixel (bpp)")
    ax.set_ylabel({"psnr-rgb": "PSNR RGB (dB)", "ms-ssim-rgb": "MS-SSIM RGB",
                   "ms-ssim-db-rgb": "MS-SSIM RGB (dB)"}.get(metric, metric))
    ax.grid(True, alpha=0.35)
    ax.legend(fontsize=7.5, loc="lower right")
    if title:
        ax.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue(), force=force)
