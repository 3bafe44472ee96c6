"""Evaluate the 3DM-WeConvene learned image codec against JPEG, WebP, JPEG 2000 and AVIF.

    python examples/lic_kodak.py                      # shipped weights at qualities 1-6, 3 bundled photos, ~2 min on CPU
    python examples/lic_kodak.py --data /path/to/kodak
    python examples/lic_kodak.py --checkpoint q1.safetensors q3.safetensors   # your own weights
    python examples/lic_kodak.py --checkpoint vr.safetensors --quality 1 2 2.5 3 4   # a variable-rate model
    python examples/lic_kodak.py --quality 5 6 --refine 100   # also refined at the encoder (~1 s/step/image)
    python examples/lic_kodak.py --quality 6 --refine 300 --refine-lr 3e-2 --refine-lr-end 3e-3   # decayed step

Every image is really compressed to bytes and decompressed (bpp from the bytes, bit-exactness
checked); the classic codecs run live through Pillow at the model's rates plus a small grid.
Without ``--data`` it uses the first ``--limit`` natural photos that scikit-image ships
(astronaut, coffee, chelsea, ...; not a benchmark set). With a folder named like ``kodak`` the
published anchor curves (VTM, BPG, WeConvene, ChWDTA, CompressAI) are drawn too. Without
``--checkpoint`` it uses the weights that ship in ``integrations/lic/shipped/`` (the one variable-rate
``3dm-weconvene-small-vr`` file, at ``--quality``, default 1..6); ``--untrained`` runs the registered model with its deterministic random
weights instead (the coding pipeline works, the rates and images mean nothing) and says so.

``--refine STEPS`` codes every image a second time with its latents refined for STEPS steps at the
encoder (the decoder is unchanged) and reports that curve beside the plain one; ``--refine-lr`` /
``--refine-lr-end`` set its Adam step (decayed geometrically; default a constant 2e-2). Prints the mean
PSNR at the model's rates against each classic codec, then the same per image.

Writes ``<out-dir>/<name>-<time>.json`` (CompressAI results format, per-image records, BD-rates;
the refined curve under ``"refined"``) and the R-D plot ``<out-dir>/<name>-<time>.png``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)  # compressai's torch.jit.script

from integrations.compression.datasets import BUNDLED_PHOTOS, list_images, write_bundled_photos  # noqa: E402
from integrations.lic.cli import add_refine_schedule, quality_arg  # noqa: E402
from integrations.lic.codec import UNTRAINED_WARNING, is_untrained, load_model  # noqa: E402
from integrations.lic.gains import LAMBDAS  # noqa: E402
from integrations.lic.evaluate import (  # noqa: E402
    CLASSIC_CODECS, matched_rate_table, per_image_table, run_evaluation, versus_table,
)
from integrations.lic.weights import shipped_checkpoints  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder of test images (e.g. Kodak); default: scikit-image's bundled photos")
    parser.add_argument("--checkpoint", nargs="+",
                        help="trained checkpoints, one per rate point (a variable-rate one: every --quality)")
    parser.add_argument("--untrained", action="store_true",
                        help="run the untrained registered model (--preset, --quality) instead of the shipped weights")
    parser.add_argument("--preset", default="small", choices=("small", "paper", "tiny"), help="preset of --untrained")
    parser.add_argument("--quality", type=quality_arg, nargs="+", default=None,
                        help="qualities of --untrained (1..6; default 3) or of a variable-rate --checkpoint "
                             "(any number in [1, 6]; default 1..6)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use the first N images (default: 3 bundled photos, or all of --data)")
    parser.add_argument("--classic", default=",".join(CLASSIC_CODECS), help="classic codecs ('' for none)")
    parser.add_argument("--classic-bpp", type=float, nargs="*", default=[0.25, 1.0],
                        help="extra target rates for the classic codecs (besides the model's rates)")
    parser.add_argument("--anchor", default=None, help="BD-rate anchor (e.g. vtm, jpeg); default: all curves")
    parser.add_argument("--out-dir", default="lic_kodak_out")
    parser.add_argument("--versus", metavar="RESULTS_JSON",
                        help="an earlier results JSON (e.g. the shipped weights'): print this model's PSNR at its rates")
    parser.add_argument("--refine", type=int, default=0, metavar="STEPS",
                        help="also code every image with its latents refined for STEPS steps (encoder only) and "
                             "report that curve beside the plain one (about a second per step and image on a CPU)")
    add_refine_schedule(parser)
    args = parser.parse_args()

    shipped = shipped_checkpoints("3dm-weconvene-small") or shipped_checkpoints("3dm-weconvene-small-vr")
    if args.checkpoint:
        models = []
        for c in args.checkpoint:
            first = load_model(c)
            qualities = (args.quality or sorted(LAMBDAS)) if first.variable_rate else [first.quality]
            models += [load_model(c, quality=q) for q in qualities]
    elif shipped and not args.untrained:
        print(f"using the shipped weights: {', '.join(p.name for p in shipped)}", file=sys.stderr)
        models = []
        for p in shipped:  # a variable-rate file at every --quality (default 1..6)
            first = load_model(p)
            models += [load_model(p, quality=q) for q in (args.quality or sorted(LAMBDAS))] if first.variable_rate \
                else [first]
    else:
        models = [load_model(name=f"3dm-weconvene-{args.preset}", quality=q, shipped=False)
                  for q in args.quality or [3]]
    for m in models:
        if is_untrained(m):
            print(UNTRAINED_WARNING.format(name=f"{m.name} quality {m.quality}"), file=sys.stderr)

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            paths, dataset = list_images(args.data), Path(args.data).name
        else:
            limit = args.limit or 3
            paths = write_bundled_photos(tmp, limit=limit)
            dataset = "scikit-image bundled photos"
            print(f"no --data: using {limit} photo(s) bundled with scikit-image ({', '.join(p.stem for p in paths)}); "
                  "not a benchmark set", file=sys.stderr)
            print("  " + "; ".join(f"{p.stem}: {BUNDLED_PHOTOS[p.stem]}" for p in paths), file=sys.stderr)
        name = f"{Path(dataset).name.replace(' ', '_')}-{models[0].name}-{stamp}"
        summary = run_evaluation(
            models, paths if not args.data else args.data, out=out_dir / f"{name}.json", plot=out_dir / f"{name}.png",
            classic_codecs=[c for c in args.classic.split(",") if c], anchor=args.anchor,
            limit=args.limit if args.data else None, dataset_name=dataset, classic_grid=tuple(args.classic_bpp),
            refine=args.refine, refine_lr=args.refine_lr, refine_lr_end=args.refine_lr_end,
        )
    print(json.dumps(summary, indent=2))
    print(f"\nPSNR at the model's rates ({summary['images']} image(s), classic codecs interpolated at the same bpp):")
    print(matched_rate_table(summary))
    if args.refine:
        print(f"\nthe same with {args.refine} refinement steps:")
        print(matched_rate_table(summary["refined"]))
    document = json.loads(Path(summary["results"]).read_text())
    if document["classic"]:
        print("\nper image (PSNR minus each classic codec's on the same image at the same bpp):")
        print(per_image_table(document))
    if args.versus:
        print(f"\nPSNR at the rates of {args.versus}:")
        print(versus_table(document, json.loads(Path(args.versus).read_text())))
    print(f"results: {summary['results']}\nplot: {summary['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
