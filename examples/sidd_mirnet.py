r"""Train / evaluate MIRNet-v2 real-image denoisers on SIDD (baseline or 3DM-WeConv re-sampling).

Data are read from disk only (nothing is downloaded). --data takes SIDD-Medium sRGB in its official
layout (<root>[/Data]/<scene>/*NOISY_SRGB_*.PNG + *GT_SRGB_*.PNG) or a folder pair (noisy/ + gt/,
or input/ + target/). --val-data takes the same layouts or the folder holding
ValidationNoisyBlocksSrgb.mat + ValidationGtBlocksSrgb.mat. --test-data takes noisy-only inputs
(a DND-style folder of images, or BenchmarkNoisyBlocksSrgb.mat) and writes denoised PNGs.

Small CPU run:
    python examples/sidd_mirnet.py --data DIR --val-data DIR --preset small --wavelet haar --iters 200 \
        --patch-size 64 --batch-size 4 --out runs/small-haar
Paper-scale run (8 GPUs, progressive patches as in MIRNet-v2's recipe):
    torchrun --nproc_per_node 8 examples/sidd_mirnet.py --data SIDD_patches/train --val-data SIDD/val \
        --preset full --wavelet bior4.4 --device cuda \
        --progressive 128:8:92000,160:5:64000,192:4:48000,256:2:36000,320:1:36000,384:1:24000 --out runs/full-w
Evaluate a checkpoint:
    python examples/sidd_mirnet.py --eval-only --weights runs/full-w/model_best.safetensors --val-data SIDD/val
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from PIL import Image

from integrations.denoising.data import (
    PairedPatchDataset, find_sidd_pairs, open_test_inputs, open_validation, write_crops,
)
from integrations.denoising.model import PRESETS, WAVELETS, build_model
from integrations.denoising.train import (
    Stage, TrainConfig, denoise, describe, evaluate, init_distributed, load_model, parse_stages,
    stages_from_epochs, train,
)

DEFAULT_DATA = "data/SIDD_Medium_Srgb"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--data", default=DEFAULT_DATA, help=f"training pairs (SIDD layouts above; default {DEFAULT_DATA})")
    g.add_argument("--val-data", help="validation pairs or SIDD validation .mat folder (none: no validation)")
    g.add_argument("--test-data", help="noisy-only inputs to denoise into OUT/denoised/ after training / evaluation")
    g.add_argument("--limit", type=int, metavar="N", help="use only the first N training pairs and N validation items")
    g.add_argument("--repeat", type=int, default=1, help="random patches per training image per epoch (default 1)")
    g.add_argument("--prepare-crops", metavar="DIR", help="only tile --data into 512x512 crops under DIR/{input,target}")
    g = p.add_argument_group("model")
    g.add_argument("--preset", choices=sorted(PRESETS), default="full", help="full: published 5.86 M model; small: n_feat 16, 1 MRB")
    g.add_argument("--wavelet", choices=WAVELETS, default="none", help="'none': MIRNet-v2; else WeConv3D re-sampling")
    g.add_argument("--wave-levels", type=int, default=2, help="spatial DWT levels of each WeConv3D (default 2)")
    g.add_argument("--wave-kernel", type=int, default=3, help="head conv kernel of each WeConv3D (default 3)")
    g = p.add_argument_group("training")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--iters", type=int, help="optimisation steps (default 1000 when neither is given)")
    length.add_argument("--epochs", type=int, help="passes over the training pairs (x --repeat)")
    length.add_argument("--progressive", metavar="SPEC", help="stages 'patch:batch:iters,...' (replaces --patch-size / --batch-size)")
    g.add_argument("--patch-size", type=int, default=128, help="training crop size (default 128)")
    g.add_argument("--batch-size", type=int, default=8, help="batch per process (default 8)")
    g.add_argument("--loss", choices=["l1", "charbonnier"], default="l1", help="default l1 (as MIRNet-v2)")
    g.add_argument("--lr", type=float, default=2e-4, help="AdamW peak learning rate (default 2e-4)")
    g.add_argument("--min-lr", type=float, default=1e-6, help="cosine floor (default 1e-6)")
    g.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    g.add_argument("--grad-clip", type=float, default=0.01, help="max grad norm, 0 = off (default 0.01, as MIRNet-v2)")
    g.add_argument("--mixup", action="store_true", help="mixup of training pairs (Beta(1.2, 1.2))")
    g.add_argument("--val-every", type=int, default=0, help="validate every N steps (default: at the end)")
    g.add_argument("--ckpt-every", type=int, default=1000, help="checkpoint every N steps (default 1000, and at the end)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/model_last.safetensors + OUT/state_last.pt")
    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-only", action="store_true", help="no training: evaluate --weights on --val-data")
    g.add_argument("--weights", help="model file (safetensors) for --eval-only")
    g.add_argument("--self-ensemble", action="store_true", help="average outputs over 8 flips/rotations")
    g = p.add_argument_group("run")
    g.add_argument("--out", default="runs/sidd_mirnet", help="output folder (default runs/sidd_mirnet)")
    g.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda[:i]")
    g.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--no-progress", action="store_true", help="hide tqdm bars")
    return p.parse_args(argv)


def _stages(args: argparse.Namespace, n_items: int, world: int) -> list[Stage]:
    if args.progressive:
        return parse_stages(args.progressive)
    if args.epochs:
        return stages_from_epochs(args.epochs, n_items, args.patch_size, args.batch_size, world)
    return [Stage(iters=args.iters or 1000, patch_size=args.patch_size, batch_size=args.batch_size)]


def _save_denoised(model: torch.nn.Module, path: str, out: Path, args: argparse.Namespace) -> None:
    dataset = open_test_inputs(path, args.limit)
    folder = out / "denoised"
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    for i in range(len(dataset)):
        noisy, _, name = dataset[i]
        y = denoise(model, noisy.unsqueeze(0).to(args.device), args.self_ensemble)[0].clamp(0, 1)
        arr = (y.permute(1, 2, 0).cpu().numpy() * 255).round().astype("uint8")
        Image.fromarray(arr).save(folder / f"{name}.png")
    print(f"wrote {len(dataset)} denoised images to {folder}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    progress = not args.no_progress
    try:
        if args.prepare_crops:
            n = write_crops(find_sidd_pairs(args.data, args.limit), args.prepare_crops)
            print(f"wrote {n} crop pairs to {args.prepare_crops}/input and /target")
            return 0
        if args.eval_only:
            if not args.weights:
                print("error: --eval-only needs --weights FILE", file=sys.stderr)
                return 2
            model, meta = load_model(args.weights, map_location=args.device)
            model.to(args.device)
            if args.val_data:
                scores = evaluate(model, open_validation(args.val_data, args.limit), args.device, args.self_ensemble, progress)
                print(f"{args.weights}: PSNR {scores['psnr']:.3f} dB  SSIM {scores['ssim']:.4f}  ({scores['images']} images)")
            if args.test_data:
                _save_denoised(model, args.test_data, out, args)
            return 0
        info = init_distributed(args.device)
        device = f"cuda:{info.local_rank}" if args.device == "cuda" and info.world_size > 1 else args.device
        pairs = find_sidd_pairs(args.data, args.limit)
        val_set = open_validation(args.val_data, args.limit) if args.val_data else None
    except FileNotFoundError as e:
        print(f"error: {e}\nNo dataset is downloaded: get SIDD-Medium sRGB (and the SIDD validation .mat "
              "files) yourself and pass --data / --val-data.", file=sys.stderr)
        return 2
    stages = _stages(args, len(pairs) * args.repeat, info.world_size)
    model = build_model(args.preset, args.wavelet, wave_kwargs=(
        {"levels": args.wave_levels, "kernel_size": args.wave_kernel} if args.wavelet != "none" else {}
    ))
    cfg = TrainConfig(
        stages=stages, lr=args.lr, min_lr=args.min_lr, weight_decay=args.weight_decay, loss=args.loss,
        grad_clip=args.grad_clip, mixup=args.mixup, val_every=args.val_every, ckpt_every=args.ckpt_every,
        num_workers=args.workers, seed=args.seed, self_ensemble=args.self_ensemble, progress=progress,
        extra_metadata={"command": " ".join([os.path.basename(sys.argv[0]), *(argv if argv is not None else sys.argv[1:])])},
    )
    if info.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"MIRNet-v2 preset={args.preset} wavelet={args.wavelet}: {n_params:,} parameters, "
              f"{len(model.swapped)} re-sampling modules swapped; {len(pairs)} training pairs; {describe(stages)}")
    train_set = PairedPatchDataset(pairs, stages[0].patch_size, augment=True, repeat=args.repeat)
    result = train(model, train_set, cfg, out, val_set, device, args.resume, info)
    if info.is_main:
        line = f"step {result['step']}: loss {result.get('loss', float('nan')):.4f}"
        if "val_psnr" in result:
            line += f"; validation PSNR {result['val_psnr']:.3f} dB SSIM {result['val_ssim']:.4f}"
        print(line + f"; checkpoints in {out}")
        if args.test_data:
            _save_denoised(model, args.test_data, out, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
