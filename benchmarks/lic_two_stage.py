"""One-stage vs two-stage training (paper eq. 1 vs eq. 2) at equal budget, from the same weights.

    python benchmarks/lic_two_stage.py [--steps 120] [--lr 1e-4] [--w1 1.2 --w2 0.9] [--qualities 1 2 3 4]
                                       [--init-dir integrations/lic/shipped] [--out-dir runs/two-stage]

For every rate point: two fine-tuning runs from the same checkpoint (``--init-dir``), with the same
data, crops (seed 0), steps, batch and a fixed learning rate ``--lr`` (the paper's stage 2 has no drop):
``one-stage`` keeps the loss of eq. 1 (w1 = w2 = 1), ``two-stage`` uses eq. 2 (``--w1 --w2``). Then
every checkpoint (the starting ones too) really codes the evaluation photos (scikit-image's bundled
photos, not training images); the script prints and writes (``OUT_DIR/two_stage.json``) the mean bpp
and PSNR per rate point, and the BD-rate / BD-PSNR of each curve against the one-stage curve.
Finished runs are kept: run it again after an interruption and it trains only what is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", category=FutureWarning)

from integrations.compression.bdrate import bd_psnr_from_points, bd_rate_from_points  # noqa: E402
from integrations.compression.container import write_atomic  # noqa: E402
from integrations.compression.datasets import write_bundled_photos  # noqa: E402
from integrations.lic.checkpoint import load_checkpoint, read_metadata  # noqa: E402
from integrations.lic.evaluate import evaluate_model  # noqa: E402
from integrations.lic.weights import file_sha256  # noqa: E402


def train(init: Path, quality: int, w1: float, w2: float, out: Path, args: argparse.Namespace) -> None:
    """One fine-tuning run as a ``train`` subprocess (skipped when ``out`` exists)."""
    if out.exists():
        return
    command = [sys.executable, "-m", "integrations.lic", "train", "--data", args.data, "--val", args.val,
               "--init", str(init), "--quality", str(quality), "--steps", str(args.steps), "--batch", str(args.batch),
               "--crop", str(args.crop), "--lr", str(args.lr), "--lr-drop", "1.0", "--seed", "0",
               "--w1", str(w1), "--w2", str(w2), "--save-every", "0", "--half", "--out", str(out)]
    print("+", " ".join(command[1:]), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def curve(paths: list[Path], images: list[Path]) -> dict:
    """Mean bpp (from the bytes) and RGB PSNR of each checkpoint on ``images``, sorted by rate."""
    points = []
    for path in paths:
        records = evaluate_model(load_checkpoint(path).eval(), images, progress=False)
        init = json.loads(read_metadata(path)["extra"]).get("init", {})
        points.append({"checkpoint": str(path.relative_to(ROOT)), "sha256": file_sha256(path),
                       "init_sha256": init.get("sha256"), "bpp": float(np.mean([r["bpp"] for r in records])),
                       "psnr-rgb": float(np.mean([r["psnr-rgb"] for r in records]))})
    return {"points": sorted(points, key=lambda p: p["bpp"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--w1", type=float, default=1.2)
    parser.add_argument("--w2", type=float, default=0.9)
    parser.add_argument("--qualities", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--init-dir", default="integrations/lic/shipped")
    parser.add_argument("--out-dir", default="runs/two-stage")
    parser.add_argument("--data", default="data/photos/train")
    parser.add_argument("--val", default="data/photos/val")
    parser.add_argument("--lr", type=float, default=1e-4,
                        help="fixed learning rate of both arms (the paper's stage 2: 1e-4)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of each training run")
    parser.add_argument("--train-only", action="store_true", help="train the missing runs, do not evaluate")
    args = parser.parse_args()
    if args.w1 <= args.w2:
        parser.error(f"eq. 2 needs w1 > w2, got w1={args.w1}, w2={args.w2}")
    out_dir = ROOT / args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = {"one-stage": (1.0, 1.0), "two-stage": (args.w1, args.w2)}
    runs: dict[str, list[Path]] = {"start": [], **{arm: [] for arm in arms}}
    for q in args.qualities:
        init = ROOT / args.init_dir / f"3dm-weconvene-small-q{q}.safetensors"
        runs["start"].append(init)
        for arm, (w1, w2) in arms.items():
            out = out_dir / f"{arm}-q{q}.safetensors"
            train(init, q, w1, w2, out, args)
            runs[arm].append(out)
    if args.train_only:
        return 0
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        images = write_bundled_photos(tmp, limit=3)
        curves = {name: curve(paths, images) for name, paths in runs.items()}
    base = curves["one-stage"]["points"]
    for name, c in curves.items():
        rates, psnrs = [p["bpp"] for p in c["points"]], [p["psnr-rgb"] for p in c["points"]]
        args_bd = ([p["bpp"] for p in base], [p["psnr-rgb"] for p in base], rates, psnrs)
        try:
            c["bd_rate_vs_one_stage"] = bd_rate_from_points(*args_bd)
            c["bd_psnr_vs_one_stage"] = bd_psnr_from_points(*args_bd)
        except ValueError as error:
            c["bd_rate_vs_one_stage"] = c["bd_psnr_vs_one_stage"] = f"n/a ({error})"
    result = {"steps": args.steps, "lr": args.lr, "w1": args.w1, "w2": args.w2, "batch": args.batch, "crop": args.crop,
              "images": [p.name for p in images], "curves": curves}
    write_atomic(out_dir / "two_stage.json", json.dumps(result, indent=1).encode(), force=True)
    print(f"| curve | {' | '.join(f'q{q} bpp / PSNR' for q in args.qualities)} | BD-rate vs one-stage | BD-PSNR |")
    print("|---" * (len(args.qualities) + 3) + "|")
    for name, c in curves.items():
        cells = " | ".join(f"{p['bpp']:.4f} / {p['psnr-rgb']:.2f}" for p in c["points"])
        bd, bp = c["bd_rate_vs_one_stage"], c["bd_psnr_vs_one_stage"]
        fmt = (lambda v, unit: f"{v:+.2f} {unit}" if isinstance(v, float) else v)
        print(f"| {name} | {cells} | {fmt(bd, '%')} | {fmt(bp, 'dB')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
