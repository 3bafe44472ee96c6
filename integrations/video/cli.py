"""``python -m <package>.video {train, eval, compress, decompress}``: DVC with or without wavelet
layers (UVG-style frame folders, Vimeo-90k septuplets); ``examples/uvg_dvc.py`` is the same command line.

  python examples/uvg_dvc.py train --data /data/vimeo_septuplet --lambda 2048 --wavelet bior4.4 --preset dvc \\
      --out runs/dvc_bior44_2048
  python examples/uvg_dvc.py eval --data /data/UVG_png --checkpoint runs/dvc_bior44_2048/last.safetensors \\
      --gop 12 --out results/uvg
  python examples/uvg_dvc.py compress FRAMES_DIR seq.dvc --checkpoint runs/dvc_bior44_2048/last.safetensors
  python examples/uvg_dvc.py decompress seq.dvc DECODED_DIR --checkpoint runs/dvc_bior44_2048/last.safetensors
  torchrun --nproc_per_node 4 examples/uvg_dvc.py train ...      (DDP; gloo on CPU, nccl on CUDA)

``--demo`` writes a synthetic sequence (a window sliding over scikit-image's astronaut photo) into
``--out/demo_frames`` and uses it as ``--data``: a smoke run, not a benchmark.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..compression.imageio import save_png
from ..compression.results import write_results
from ..toolkit.cli import add_device, add_force, command_line, new_parser, run
from ..toolkit.distributed import ProcessGroup
from ..toolkit.files import write_atomic
from ..toolkit.wavelets import WAVELETS
from .data import FramePairs, list_frames, list_sequences, moving_sequence, read_frames, vimeo_septuplets
from .evaluate import evaluate_sequences
from .gop import MAX_GOP_FRAMES, decode_gop, encode_gop
from .model import DVC, MODEL_NAMES, build_model
from .training import TrainConfig, load_model, train

__all__ = ["build_parser", "main"]

_PRESETS = {preset: name for name, preset in MODEL_NAMES.items()}
UNTRAINED = ("WARNING: no --checkpoint: an UNTRAINED model; the files decode exactly but the rates and "
             "qualities are meaningless")
NO_DATA = ("no --data given. Pass a folder: for training a Vimeo-90k septuplet root (sep_trainlist.txt + "
           "sequences/xxxxx/xxxx/im1..im7.png) or a UVG-style root (one folder of PNG frames per sequence); "
           "for eval a UVG-style root (e.g. the 7 UVG 1080p sequences converted to PNG and cropped to "
           "1920x1024, see docs/video.md). Datasets are not downloaded. For a smoke run use --demo.")


def _model_args(s: argparse.ArgumentParser, checkpoint: bool) -> None:
    if checkpoint:
        s.add_argument("--checkpoint", type=Path, help="trained weights; without it an UNTRAINED model (warning)")
    s.add_argument("--preset", default="small", choices=sorted(_PRESETS), help="model size (without --checkpoint)")
    s.add_argument("--wavelet", default="none", choices=WAVELETS)
    s.add_argument("--entropy", default="hyperprior", choices=("hyperprior", "3dwecharm"),
                   help="entropy model of the residual latent")
    add_device(s, "cuda" if torch.cuda.is_available() else "cpu")
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _gop_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--iframe-codec", default="webp", choices=("jpeg", "webp"))
    s.add_argument("--iframe-quality", type=int, default=90)
    add_force(s)


def build_parser() -> argparse.ArgumentParser:
    parser, sub = new_parser(__package__, __doc__)
    for name in ("train", "eval"):
        s = sub.add_parser(name)
        s.add_argument("--data", type=Path, help="train: Vimeo-90k septuplet root or UVG-style root; "
                       "eval: UVG-style root (one folder of PNG frames per sequence)")
        s.add_argument("--demo", action="store_true", help="use a synthetic sliding-window sequence (not a benchmark)")
        s.add_argument("--out", type=Path, required=True, help="output folder")
        _model_args(s, checkpoint=name == "eval")
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
    e.add_argument("--gop", type=int, default=12, help="GOP size (DVC on UVG: 12)")
    e.add_argument("--frames", type=int, default=None, help="first N frames of each sequence (default: all)")
    _gop_args(e)
    c = sub.add_parser("compress", help="the first frames of a folder -> one GOP file")
    c.add_argument("input", type=Path, help="folder of frames (PNG, ...), in natural order")
    c.add_argument("output", type=Path, help="GOP file to write")
    c.add_argument("--frames", type=int, default=12, help=f"frames in the GOP (default 12, at most {MAX_GOP_FRAMES})")
    _model_args(c, checkpoint=True)
    _gop_args(c)
    d = sub.add_parser("decompress", help="GOP file -> PNG frames in a folder")
    d.add_argument("input", type=Path)
    d.add_argument("output", type=Path, help="folder for frame000.png, frame001.png, ...")
    _model_args(d, checkpoint=True)
    add_force(d)
    return parser


def _demo_data(out: Path) -> Path:
    from skimage.data import astronaut

    folder = out / "demo_frames" / "astronaut_slide"
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(moving_sequence(16, 256, 320, (2, 3), source=astronaut())):
        path = folder / f"f{i:03d}.png"
        if not path.exists():  # every torchrun rank may get here: identical bytes, atomic replace
            save_png(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255, path, force=True)
    print(f"demo: synthetic frames (scikit-image astronaut, sliding window) in {folder}; NOT a benchmark",
          file=sys.stderr)
    return folder.parent


def _data(args: argparse.Namespace) -> Path:
    if args.demo:
        args.out.mkdir(parents=True, exist_ok=True)
        return _demo_data(args.out)
    if args.data is None:
        raise ValueError(NO_DATA)
    if not args.data.exists():
        raise FileNotFoundError(f"--data {args.data}: no such folder")
    return args.data


def _setup(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)


def _model(args: argparse.Namespace) -> DVC:
    """The ``--checkpoint``'s model, or the untrained ``--preset`` (with a warning), on ``--device``."""
    _setup(args)
    if args.checkpoint:
        model = load_model(args.checkpoint)
    else:
        model = build_model(_PRESETS[args.preset], wavelet=args.wavelet, residual_entropy=args.entropy)
        model.update(force=True)
        print(UNTRAINED, file=sys.stderr)
    return model.to(args.device).eval()


def _train(args: argparse.Namespace) -> None:
    _setup(args)
    root = _data(args)
    layout = args.layout
    if layout == "auto":
        layout = "vimeo" if (root / "sep_trainlist.txt").is_file() else "uvg"
    sequences = vimeo_septuplets(root) if layout == "vimeo" else [list_frames(s) for s in list_sequences(root)]
    dataset = FramePairs(sequences, crop=args.crop, gap=args.gap)
    model = build_model(_PRESETS[args.preset], wavelet=args.wavelet, residual_entropy=args.entropy)
    if args.flow_weights:
        model.flow.load_weights(args.flow_weights)
    config = TrainConfig(lmbda=args.lmbda, steps=args.steps, motion_steps=args.motion_steps,
                         aux_weight=args.aux_weight, lr=args.lr, lr_decay_step=args.lr_decay_step,
                         batch_size=args.batch_size, checkpoint_every=args.checkpoint_every,
                         num_workers=args.num_workers)
    main_process = ProcessGroup.join(args.device).is_main
    if main_process:
        print(f"train: {len(dataset)} pairs ({layout} layout), {sum(p.numel() for p in model.parameters()):,} "
              f"parameters, {model.model_id}", file=sys.stderr)
    train(model, dataset, config, args.out, args.device, args.resume, command_line(__package__, args.argv))
    if main_process:
        print(f"checkpoint: {args.out / 'last.safetensors'}", file=sys.stderr)


def _eval(args: argparse.Namespace) -> None:
    root = _data(args)
    model = _model(args)
    gop_dir = args.out / "gops"
    gop_dir.mkdir(parents=True, exist_ok=True)
    curve = evaluate_sequences(model, list_sequences(root), args.gop, args.frames, args.iframe_codec,
                               args.iframe_quality, gop_dir, progress=lambda x: tqdm(x, desc="sequences"),
                               force=args.force)
    path = args.out / f"{model.name}_{model.config.wavelet}.json"
    write_results(path, curve, force=args.force)
    r = curve["results"]
    print(f"bpp {r['bpp'][0]:.4f}  PSNR {r['psnr-rgb'][0]:.2f} dB  MS-SSIM {r['ms-ssim-rgb'][0]:.4f}  -> {path}")


def _compress(args: argparse.Namespace) -> None:
    if not 1 <= args.frames <= MAX_GOP_FRAMES:
        raise ValueError(f"--frames must be in 1..{MAX_GOP_FRAMES}, got {args.frames}")
    frames = read_frames(list_frames(args.input)[:args.frames])
    coding = encode_gop(_model(args), frames, args.iframe_codec, args.iframe_quality)
    write_atomic(args.output, coding.data, force=args.force)
    print(f"wrote {args.output}: {len(frames)} frames, {len(coding.data)} bytes, {coding.file_bpp():.4f} bpp")


def _decompress(args: argparse.Namespace) -> None:
    frames = decode_gop(_model(args), args.input.read_bytes())
    args.output.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        save_png(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255, args.output / f"frame{i:03d}.png",
                 force=args.force)
    print(f"wrote {len(frames)} frames to {args.output}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; 0 on success, 2 on an error (printed as ``error: ...``)."""
    return run(build_parser(), {"train": _train, "eval": _eval, "compress": _compress, "decompress": _decompress},
               argv)
