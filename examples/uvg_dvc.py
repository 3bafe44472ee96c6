"""Train and evaluate DVC with or without wavelet layers (UVG-style frame folders, Vimeo-90k septuplets).

  python examples/uvg_dvc.py train --data /data/vimeo_septuplet --lambda 2048 --wavelet bior4.4 --preset dvc \
      --out runs/dvc_bior44_2048
  python examples/uvg_dvc.py eval --data /data/UVG_png --checkpoint runs/dvc_bior44_2048/last.safetensors \
      --gop 12 --out results/uvg
  torchrun --nproc_per_node 4 examples/uvg_dvc.py train ...      (DDP; gloo on CPU, nccl on CUDA)

``--demo`` writes a synthetic sequence (a window sliding over scikit-image's astronaut photo) into
``--out/demo_frames`` and uses it as ``--data``: a smoke run, not a benchmark.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings
from pathlib import Path

import torch


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("train", "eval"):
        s = sub.add_parser(name)
        s.add_argument("--data", type=Path, help="train: Vimeo-90k septuplet root or UVG-style root; "
                       "eval: UVG-style root (one folder of PNG frames per sequence)")
        s.add_argument("--demo", action="store_true", help="use a synthetic sliding-window sequence (not a benchmark)")
        s.add_argument("--preset", default="small", choices=("small", "dvc", "dvc-pytorch"))
        s.add_argument("--wavelet", default="none", choices=("none", "haar", "bior2.2", "bior4.4"))
        s.add_argument("--entropy", default="hyperprior", choices=("hyperprior", "3dwecharm"),
                       help="entropy model of the residual latent")
        s.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        s.add_argument("--out", type=Path, required=True, help="output folder")
        s.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t = sub.choices["train"]
    t.add_argument("--layout", default="auto", choices=("auto", "vimeo", "uvg"))
    t.add_argument("--lambda", dest="lmbda", type=float, default=2048.0, help="DVC: 256, 512, 1024, 2048")
    t.add_argument("--steps", type=int, default=2_000_000)
    t.add_argument("--motion-steps", type=int, default=0, help="warm-up steps of the motion-only stage")
    t.add_argument("--aux-weight", type=float, default=0.1, help="weight of the warp / MC distortion terms")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--lr-decay-step", type=int, default=None, help="lr x0.1 from this step (DVC-PyTorch: 1.8M)")
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--crop", type=int, default=256)
    t.add_argument("--gap", type=int, default=2, help="reference = the original frame this many steps earlier")
    t.add_argument("--num-workers", type=int, default=2)
    t.add_argument("--checkpoint-every", type=int, default=5000)
    t.add_argument("--resume", type=Path, help="checkpoint to resume from (weights + optimiser state)")
    t.add_argument("--flow-weights", type=Path, help="state-dict file for the flow net (PyramidFlow names)")
    e = sub.choices["eval"]
    e.add_argument("--checkpoint", type=Path, help="trained weights; without it an UNTRAINED model (warning)")
    e.add_argument("--gop", type=int, default=12, help="GOP size (DVC on UVG: 12)")
    e.add_argument("--frames", type=int, default=None, help="first N frames of each sequence (default: all)")
    e.add_argument("--iframe-codec", default="webp", choices=("jpeg", "webp"))
    e.add_argument("--iframe-quality", type=int, default=90)
    e.add_argument("--force", action="store_true", help="overwrite existing output files")
    return p


def _demo_data(out: Path) -> Path:
    from skimage.data import astronaut

    from integrations.compression.imageio import save_png
    from integrations.video.data import moving_sequence

    folder = out / "demo_frames" / "astronaut_slide"
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(moving_sequence(16, 256, 320, (2, 3), source=astronaut())):
        path = folder / f"f{i:03d}.png"
        if not path.exists():  # every torchrun rank may get here: identical bytes, atomic replace
            save_png(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255, path, force=True)
    print(f"demo: synthetic frames (scikit-image astronaut, sliding window) in {folder}; NOT a benchmark",
          file=sys.stderr)
    return folder.parent


def _data(args) -> Path:
    if args.demo:
        args.out.mkdir(parents=True, exist_ok=True)
        return _demo_data(args.out)
    if args.data is None:
        sys.exit("no --data given. Pass a folder: for training a Vimeo-90k septuplet root (sep_trainlist.txt + "
                 "sequences/xxxxx/xxxx/im1..im7.png) or a UVG-style root (one folder of PNG frames per sequence); "
                 "for eval a UVG-style root (e.g. the 7 UVG 1080p sequences converted to PNG and cropped to "
                 "1920x1024, see docs/video.md). Datasets are not downloaded by this script. For a smoke run "
                 "use --demo.")
    if not args.data.exists():
        sys.exit(f"--data {args.data}: no such folder")
    return args.data


def _train(args) -> None:
    from integrations.video.data import FramePairs, list_frames, list_sequences, vimeo_septuplets
    from integrations.video.model import build_model
    from integrations.video.train import TrainConfig, train

    root = _data(args)
    layout = args.layout
    if layout == "auto":
        layout = "vimeo" if (root / "sep_trainlist.txt").is_file() else "uvg"
    sequences = vimeo_septuplets(root) if layout == "vimeo" else [list_frames(s) for s in list_sequences(root)]
    dataset = FramePairs(sequences, crop=args.crop, gap=args.gap)
    model = build_model(args.preset, args.wavelet, args.entropy)
    if args.flow_weights:
        model.flow.load_weights(args.flow_weights)
    config = TrainConfig(lmbda=args.lmbda, steps=args.steps, motion_steps=args.motion_steps,
                         aux_weight=args.aux_weight, lr=args.lr, lr_decay_step=args.lr_decay_step,
                         batch_size=args.batch_size, checkpoint_every=args.checkpoint_every,
                         num_workers=args.num_workers)
    command = shlex.join([sys.executable, *sys.argv])
    rank0 = os.environ.get("RANK", "0") == "0"
    if rank0:
        print(f"train: {len(dataset)} pairs ({layout} layout), {sum(p.numel() for p in model.parameters()):,} "
              f"parameters, {model.model_id}", file=sys.stderr)
    train(model, dataset, config, args.out, args.device, args.resume, command)
    if rank0:
        print(f"checkpoint: {args.out / 'last.safetensors'}", file=sys.stderr)


def _eval(args) -> None:
    from tqdm import tqdm

    from integrations.compression.results import write_results
    from integrations.video.data import list_sequences
    from integrations.video.evaluate import evaluate_sequences
    from integrations.video.model import build_model
    from integrations.video.train import load_model

    root = _data(args)
    if args.checkpoint:
        model = load_model(args.checkpoint)
    else:
        model = build_model(args.preset, args.wavelet, args.entropy)
        model.update(force=True)
        print("WARNING: no --checkpoint: evaluating an UNTRAINED model; the files decode exactly but the "
              "rates and qualities are meaningless", file=sys.stderr)
    model = model.to(args.device).eval()
    args.out.mkdir(parents=True, exist_ok=True)
    gop_dir = args.out / "gops"
    gop_dir.mkdir(exist_ok=True)
    curve = evaluate_sequences(model, list_sequences(root), args.gop, args.frames, args.iframe_codec,
                               args.iframe_quality, gop_dir, progress=lambda x: tqdm(x, desc="sequences"),
                               force=args.force)
    path = args.out / f"{model.name}_{model.config.wavelet}.json"
    write_results(path, curve, force=args.force)
    r = curve["results"]
    print(f"bpp {r['bpp'][0]:.4f}  PSNR {r['psnr-rgb'][0]:.2f} dB  MS-SSIM {r['ms-ssim-rgb'][0]:.4f}  -> {path}")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        (_train if args.command == "train" else _eval)(args)


if __name__ == "__main__":
    main()
