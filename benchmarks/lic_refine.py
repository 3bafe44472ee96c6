"""Encoder-side refinement (integrations/lic/refine.py) on the evaluation photos with shipped weights.

For every quality and image: the normal encode (bytes, RGB PSNR of the decoded image, encode time),
then ``compress_refined`` with each step count (the same), each decoded by the unchanged decoder
(``model.decompress``) and checked bit-exact against the encoder-side reconstruction. The weights:
``--checkpoint``, else the shipped ones of ``--name`` (the variable-rate file serves every quality,
fractional ones too).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_refine.py --quality 2 4 6 --steps 100 --limit 3 \
        --out benchmarks/results/lic_refine_vr.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression import metrics  # noqa: E402
from integrations.compression.datasets import bundled_photos  # noqa: E402
from integrations.compression.imageio import to_uint8  # noqa: E402
from integrations.lic.codec import load_model  # noqa: E402
from integrations.lic.refine import compress_refined  # noqa: E402


def summary(records: list[dict]) -> str:
    """Markdown table: per quality and image, the normal encode against each refined one."""
    lines = ["| quality | image | steps | bpp | PSNR (dB) | Δ bpp | Δ PSNR (dB) | encode (s) | bit-exact |",
             "|---|---|---|---|---|---|---|---|---|"]
    base = {(r["quality"], r["image"]): r for r in records if r["steps"] == 0}
    for r in sorted(records, key=lambda r: (r["quality"], r["image"], r["steps"])):
        b = base.get((r["quality"], r["image"]))
        delta = (f"{100 * (r['bpp'] / b['bpp'] - 1):+.1f} % | {r['psnr'] - b['psnr']:+.2f}" if b and r["steps"]
                 else " | ")
        lines.append(f"| q{r['quality']} | {r['image']} | {r['steps']} | {r['bpp']:.4f} | {r['psnr']:.2f} | {delta} "
                     f"| {r['encode_seconds']} | {r['bit_exact']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="3dm-weconvene-small-vr")
    parser.add_argument("--checkpoint", type=Path, help="weights to use instead of the shipped ones of --name")
    parser.add_argument("--quality", type=float, nargs="+", default=[1, 4])
    parser.add_argument("--steps", type=int, nargs="+", default=[100])
    parser.add_argument("--limit", type=int, default=3, help="first N photos that scikit-image ships")
    parser.add_argument("--lr", type=float, default=2e-2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lic_refine_vr.json")
    parser.add_argument("--summary", action="store_true", help="print the table of --out and exit")
    args = parser.parse_args(argv)
    if args.summary:
        print(summary(json.loads(args.out.read_text())["records"]))
        return 0
    torch.set_num_threads(1)
    photos = [(n, torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0) for n, a in bundled_photos(args.limit)]
    records = json.loads(args.out.read_text())["records"] if args.out.exists() else []
    done = {(r.get("model"), r["quality"], r["image"], r["steps"], r["lr"]) for r in records}
    for q in (int(q) if q == int(q) else q for q in args.quality):
        model = load_model(args.checkpoint, name=None if args.checkpoint else args.name, quality=q).eval()
        for name, x in photos:
            H, W = x.shape[-2:]
            for steps in [0, *args.steps]:
                if (model.model_id, q, name, steps, args.lr) in done:
                    continue
                start = time.perf_counter()
                data, x_enc, result = compress_refined(model, x, steps, lr=args.lr)
                seconds = time.perf_counter() - start
                x_dec = model.decompress(data)
                record = {"model": model.model_id, "quality": q, "image": name, "steps": steps, "lr": args.lr, "bytes": len(data),
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
