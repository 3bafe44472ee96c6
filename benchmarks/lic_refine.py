"""Encoder-side refinement (integrations/lic/refine.py) on the evaluation photos with shipped weights.

For every quality and image: the normal encode (bytes, RGB PSNR of the decoded image, encode time),
then ``compress_refined`` with each step count (the same), each decoded by the unchanged decoder
(``model.decompress``) and checked bit-exact against the encoder-side reconstruction. The weights:
``--checkpoint``, else the shipped ones of ``--name`` (the variable-rate file serves every quality,
fractional ones too).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_refine.py --quality 2 4 6 --steps 100 --limit 3 \
        --out benchmarks/results/lic_refine_vr.json
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_refine.py --quality 5 6 --image coffee --out R.json   # one photo
    .venv/bin/python benchmarks/lic_refine.py --summary --versus --out benchmarks/results/lic_refine_vr.json
    .venv/bin/python benchmarks/lic_refine.py --per-image RESULTS.json   # an eval's per-image points, the same way

``--versus`` adds, per image, the PSNR difference to JPEG (the better of 4:2:0 and 4:4:4), WebP and
JPEG 2000 at the same bpp: each classic codec codes each image at that image's own rates (as
``eval`` does), interpolated linearly in bpp between the settings on either side.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression import metrics  # noqa: E402
from integrations.compression.datasets import bundled_photos  # noqa: E402
from integrations.compression.classic import rd_curve  # noqa: E402
from integrations.compression.imageio import to_uint8  # noqa: E402
from integrations.lic.codec import load_model  # noqa: E402
from integrations.lic.evaluate import CLASSIC_GRID_BPP, per_image_deltas, per_image_table  # noqa: E402
from integrations.lic.refine import compress_refined  # noqa: E402

VERSUS = (("JPEG", ("jpeg", "jpeg444")), ("WebP", ("webp",)), ("JPEG 2000", ("jpeg2000",)))


def classic_deltas(photos: dict[str, np.ndarray], records: list[dict]) -> dict[tuple, dict[str, float | None]]:
    """Per record (quality, image, steps): its PSNR minus each classic codec's on the same image at
    its bpp (:func:`~integrations.lic.evaluate.per_image_deltas`: every codec codes each image at
    that image's own rates, interpolated between its settings on either side). JPEG is the better of
    4:2:0 and 4:4:4 at that rate; None where a codec cannot reach the rate."""
    names = sorted({r["image"] for r in records})
    own = {name: sorted({r["bpp"] for r in records if r["image"] == name}) for name in names}
    codecs = [codec for _, group in VERSUS for codec in group]
    document = {
        "images": names,
        "classic": [rd_curve([photos[n] for n in names], codec, list(CLASSIC_GRID_BPP), names=names,
                             image_targets=own) for codec in codecs],
        "points": [{"quality": q, "images": [{"image": r["image"], "bpp": r["bpp"], "psnr-rgb": r["psnr"],
                                              "refine_steps": r["steps"]} for r in records if r["quality"] == q]}
                   for q in sorted({r["quality"] for r in records})],
    }
    out = {}
    for row in per_image_deltas(document):
        deltas = {}
        for label, group in VERSUS:
            values = [row[codec] for codec in group if row[codec] is not None]
            deltas[label] = min(values) if values else None
        out[(row["quality"], row["image"], row["refine_steps"])] = deltas
    return out


def _versus_cells(deltas: dict[str, float | None]) -> str:
    """The table cells of one record's :func:`classic_deltas`."""
    return "".join(" n/a |" if deltas[label] is None else f" {deltas[label]:+.2f} |" for label, _ in VERSUS)


def summary(records: list[dict], versus: dict | None = None) -> str:
    """Markdown table: per quality and image, the normal encode against each refined one (and, given
    :func:`classic_deltas`, the differences to the classic codecs at the same rate)."""
    extra = "".join(f" Δ {label} (dB) |" for label, _ in VERSUS) if versus else ""
    lines = ["| quality | image | steps | bpp | PSNR (dB) | Δ bpp | Δ PSNR (dB) | encode (s) | bit-exact |" + extra,
             "|---|---|---|---|---|---|---|---|---|" + "---|" * (len(VERSUS) if versus else 0)]
    base = {(r["quality"], r["image"]): r for r in records if r["steps"] == 0}
    for r in sorted(records, key=lambda r: (r["quality"], r["image"], r["steps"])):
        b = base.get((r["quality"], r["image"]))
        delta = (f"{100 * (r['bpp'] / b['bpp'] - 1):+.1f} % | {r['psnr'] - b['psnr']:+.2f}" if b and r["steps"]
                 else " | ")
        cells = ""
        if versus:
            d = versus[(r["quality"], r["image"], r["steps"])]
            cells = _versus_cells(d)
        lines.append(f"| q{r['quality']} | {r['image']} | {r['steps']} | {r['bpp']:.4f} | {r['psnr']:.2f} | {delta} "
                     f"| {r['encode_seconds']} | {r['bit_exact']} |" + cells)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="3dm-weconvene-small-vr")
    parser.add_argument("--checkpoint", type=Path, help="weights to use instead of the shipped ones of --name")
    parser.add_argument("--quality", type=float, nargs="+", default=[1, 4])
    parser.add_argument("--steps", type=int, nargs="+", default=[100])
    parser.add_argument("--limit", type=int, default=3, help="first N photos that scikit-image ships")
    parser.add_argument("--image", nargs="+", metavar="NAME",
                        help="only these of the --limit photos (e.g. coffee), as --per-image names them")
    parser.add_argument("--lr", type=float, default=2e-2)
    parser.add_argument("--lr-end", type=float, default=None,
                        help="decay the learning rate geometrically to this over the steps (default: constant)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lic_refine_vr.json")
    parser.add_argument("--summary", action="store_true", help="print the table of --out and exit")
    parser.add_argument("--versus", action="store_true", help="with --summary: Δ to JPEG, WebP, JPEG 2000 per image")
    parser.add_argument("--per-image", type=Path, metavar="RESULTS_JSON",
                        help="print the per-image table of an eval / examples/lic_kodak.py results JSON (every "
                             "classic codec it holds, at each image's own rates) and exit")
    args = parser.parse_args(argv)
    if args.per_image:
        print(per_image_table(json.loads(args.per_image.read_text())))
        return 0
    if args.summary:
        records = json.loads(args.out.read_text())["records"]
        versus = classic_deltas(dict(bundled_photos(args.limit)), records) if args.versus else None
        print(summary(records, versus))
        return 0
    torch.set_num_threads(1)
    photos = [(n, torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0) for n, a in bundled_photos(args.limit)]
    if args.image:
        unknown = sorted(set(args.image) - {n for n, _ in photos})
        if unknown:
            parser.error(f"--image {' '.join(unknown)}: not among the first {args.limit} photos "
                         f"({', '.join(n for n, _ in photos)})")
        photos = [(n, x) for n, x in photos if n in args.image]
    records = json.loads(args.out.read_text())["records"] if args.out.exists() else []
    done = {(r.get("model"), r["quality"], r["image"], r["steps"], r["lr"], r.get("lr_end")) for r in records}
    for q in (int(q) if q == int(q) else q for q in args.quality):
        model = load_model(args.checkpoint, name=None if args.checkpoint else args.name, quality=q).eval()
        for name, x in photos:
            H, W = x.shape[-2:]
            for steps in [0, *args.steps]:
                if (model.model_id, q, name, steps, args.lr, args.lr_end) in done:
                    continue
                start = time.perf_counter()
                data, x_enc, result = compress_refined(model, x, steps, lr=args.lr, lr_end=args.lr_end)
                seconds = time.perf_counter() - start
                x_dec = model.decompress(data)
                record = {"model": model.model_id, "quality": q, "image": name, "steps": steps, "lr": args.lr,
                          "lr_end": args.lr_end, "bytes": len(data),
                          "bpp": len(data) * 8 / (H * W), "psnr": metrics.psnr(to_uint8(x), to_uint8(x_dec)),
                          "bit_exact": bool(torch.equal(x_enc, x_dec)), "encode_seconds": round(seconds, 2),
                          "initial_loss": result.initial_loss, "final_loss": result.final_loss,
                          "best_step": result.best_step, "threads": 1}
                records.append(record)
                print(record, flush=True)
                args.out.write_text(json.dumps({"command": " ".join(sys.argv), "records": records}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
