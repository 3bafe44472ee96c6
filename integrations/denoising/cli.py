r"""``python -m <package>.denoising {train, eval, crops}``: MIRNet-v2 real-image denoisers on SIDD
(baseline or 3DM-WeConv re-sampling); ``examples/sidd_mirnet.py`` is the same command line.

Data are read from disk only (nothing is downloaded). ``train --data`` takes SIDD-Medium sRGB in
its official layout (<root>[/Data]/<scene>/*NOISY_SRGB_*.PNG + *GT_SRGB_*.PNG) or a folder pair
(noisy/ + gt/, or input/ + target/); ``--val-data`` (``eval --data``) the same layouts or the folder
holding ValidationNoisyBlocksSrgb.mat + ValidationGtBlocksSrgb.mat; ``--test-data`` noisy-only
inputs (a DND-style folder of images, or BenchmarkNoisyBlocksSrgb.mat), denoised into OUT/denoised/.

Small CPU run:
    python examples/sidd_mirnet.py train --data DIR --val-data DIR --preset small --wavelet haar --iters 200 \
        --patch-size 64 --batch-size 4 --out runs/small-haar
Paper-scale run (8 GPUs, progressive patches as in MIRNet-v2's recipe):
    torchrun --nproc_per_node 8 examples/sidd_mirnet.py train --data SIDD_patches/train --val-data SIDD/val \
        --preset full --wavelet bior4.4 --device cuda \
        --progressive 128:8:92000,160:5:64000,192:4:48000,256:2:36000,320:1:36000,384:1:24000 --out runs/full-w
Evaluate a checkpoint:
    python examples/sidd_mirnet.py eval --checkpoint runs/full-w/model_best.safetensors --data SIDD/val
Tile SIDD into 512x512 crop pairs (MIRNet-v2's patch layout):
    python examples/sidd_mirnet.py crops --data SIDD_Medium_Srgb --out SIDD_patches/train
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from ..toolkit.cli import add_device, command_line, new_parser, run
from ..toolkit.distributed import ProcessGroup
from .data import PairedPatchDataset, find_sidd_pairs, open_test_inputs, open_validation, write_crops
from .model import MODEL_NAMES, WAVELETS, build_model
from .training import (
    Stage, TrainConfig, denoise, describe, evaluate, load_model, parse_stages, stages_from_epochs, train,
)

__all__ = ["build_parser", "main"]

DEFAULT_DATA = "data/SIDD_Medium_Srgb"
NO_DOWNLOAD = ("No dataset is downloaded: get SIDD-Medium sRGB (and the SIDD validation .mat files) yourself "
               "and pass --data / --val-data.")
_PRESETS = {preset: name for name, preset in MODEL_NAMES.items()}
_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _add_run_args(g: argparse._ArgumentGroup) -> None:
    add_device(g, _DEVICE)
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument("--limit", type=int, metavar="N", help="use only the first N training pairs and N validation items")
    g.add_argument("--self-ensemble", action="store_true", help="average outputs over 8 flips/rotations")
    g.add_argument("--test-data", help="noisy-only inputs to denoise into OUT/denoised/ after training / evaluation")
    g.add_argument("--no-progress", action="store_true", help="hide tqdm bars")


def build_parser() -> argparse.ArgumentParser:
    parser, sub = new_parser(__package__, __doc__)
    p = sub.add_parser("train", help="train a denoiser (validating on --val-data)")
    g = p.add_argument_group("data")
    g.add_argument("--data", default=DEFAULT_DATA, help=f"training pairs (SIDD layouts above; default {DEFAULT_DATA})")
    g.add_argument("--val-data", help="validation pairs or SIDD validation .mat folder (none: no validation)")
    g.add_argument("--repeat", type=int, default=1, help="random patches per training image per epoch (default 1)")
    g = p.add_argument_group("model")
    g.add_argument("--preset", choices=sorted(_PRESETS), default="full",
                   help="full: published 5.86 M model (mirnet-v2); small: n_feat 16, 1 MRB (mirnet-v2-small)")
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
    g = p.add_argument_group("run")
    g.add_argument("--out", default="runs/sidd_mirnet", help="output folder (default runs/sidd_mirnet)")
    g.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    g.add_argument("--seed", type=int, default=0)
    _add_run_args(g)

    e = sub.add_parser("eval", help="PSNR / SSIM of a checkpoint on validation data, and/or denoise --test-data")
    e.add_argument("--checkpoint", required=True, help="model file (safetensors) written by `train`")
    e.add_argument("--data", help="validation pairs or SIDD validation .mat folder")
    e.add_argument("--out", default="runs/sidd_mirnet", help="folder for denoised/ (with --test-data)")
    _add_run_args(e)

    c = sub.add_parser("crops", help="tile --data into 512x512 crop pairs under OUT/{input,target}")
    c.add_argument("--data", default=DEFAULT_DATA, help="SIDD pairs to tile")
    c.add_argument("--out", required=True, help="output folder")
    c.add_argument("--limit", type=int, metavar="N", help="only the first N pairs")
    return parser


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


def _threads(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)


def _eval(args: argparse.Namespace) -> None:
    _threads(args)
    model, _ = load_model(args.checkpoint, map_location=args.device)
    model.to(args.device)
    if args.data:
        scores = evaluate(model, open_validation(args.data, args.limit), args.device, args.self_ensemble,
                          not args.no_progress)
        print(f"{args.checkpoint}: PSNR {scores['psnr']:.3f} dB  SSIM {scores['ssim']:.4f}  ({scores['images']} images)")
    if args.test_data:
        _save_denoised(model, args.test_data, Path(args.out), args)


def _train(args: argparse.Namespace) -> None:
    _threads(args)
    group = ProcessGroup.join(args.device)
    try:
        pairs = find_sidd_pairs(args.data, args.limit)
        val_set = open_validation(args.val_data, args.limit) if args.val_data else None
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e}\n{NO_DOWNLOAD}") from None
    stages = _stages(args, len(pairs) * args.repeat, group.size)
    wave_kwargs = {"levels": args.wave_levels, "kernel_size": args.wave_kernel} if args.wavelet != "none" else {}
    model = build_model(_PRESETS[args.preset], wavelet=args.wavelet, wave_kwargs=wave_kwargs)
    cfg = TrainConfig(
        stages=stages, lr=args.lr, min_lr=args.min_lr, weight_decay=args.weight_decay, loss=args.loss,
        grad_clip=args.grad_clip, mixup=args.mixup, val_every=args.val_every, ckpt_every=args.ckpt_every,
        num_workers=args.workers, seed=args.seed, self_ensemble=args.self_ensemble, progress=not args.no_progress,
        command=command_line(__package__, args.argv),
    )
    if group.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"MIRNet-v2 preset={args.preset} wavelet={args.wavelet}: {n_params:,} parameters, "
              f"{len(model.swapped)} re-sampling modules swapped; {len(pairs)} training pairs; {describe(stages)}")
    train_set = PairedPatchDataset(pairs, stages[0].patch_size, augment=True, repeat=args.repeat)
    out = Path(args.out)
    result = train(model, train_set, cfg, out, val_set, str(group.device), args.resume, group)
    if group.is_main:
        line = f"step {result['step']}: loss {result.get('loss', float('nan')):.4f}"
        if "val_psnr" in result:
            line += f"; validation PSNR {result['val_psnr']:.3f} dB SSIM {result['val_ssim']:.4f}"
        print(line + f"; checkpoints in {out}")
        if args.test_data:
            _save_denoised(model, args.test_data, out, args)


def _crops(args: argparse.Namespace) -> None:
    n = write_crops(find_sidd_pairs(args.data, args.limit), args.out)
    print(f"wrote {n} crop pairs to {args.out}/input and /target")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; 0 on success, 2 on an error (printed as ``error: ...``)."""
    return run(build_parser(), {"train": _train, "eval": _eval, "crops": _crops}, argv)
