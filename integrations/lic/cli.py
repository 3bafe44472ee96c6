"""Command line: ``python -m <package>.lic {compress, decompress, eval, train, average, info} ...`` (:mod:`..toolkit.cli`).

Every command refuses to overwrite an existing output unless ``--force`` and writes atomically.
Errors (missing files, foreign or damaged ``.wlic`` files, bad checkpoints, bad images) print one
``error: ...`` line on stderr and exit with status 2; a run on untrained weights says so on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ..compression.container import unpack
from ..toolkit.cli import add_device, add_force, command_line, new_parser, run
from .checkpoint import lineage, read_metadata
from .codec import UNTRAINED_WARNING, compress_file, decompress_file, is_untrained, load_model
from .rate_control import DEFAULT_TOLERANCE
from .refine import DEFAULT_LR
from .evaluate import CLASSIC_CODECS, matched_rate_table, per_image_table, run_evaluation
from .model import ENTROPY_MODELS, FAMILIES, LAMBDAS, PRESETS, WeConveneLIC, model_config, model_name
from .gains import GAIN_INITS
from .model import deepen_encoder, to_variable_rate
from .averaging import average_checkpoints
from .training import TRAINABLE, run_training
from .weights import manifest

__all__ = ["main", "build_parser"]


def add_refine_schedule(p: argparse.ArgumentParser) -> None:
    """``--refine-lr`` / ``--refine-lr-end``: the Adam step of the latent refinement (:mod:`.refine`)."""
    p.add_argument("--refine-lr", type=float, default=DEFAULT_LR, metavar="LR",
                   help=f"with --refine: Adam step size of the latents (default {DEFAULT_LR})")
    p.add_argument("--refine-lr-end", type=float, default=None, metavar="LR",
                   help="with --refine: decay the step size geometrically to LR over the steps (default: constant; "
                        "300 steps from 3e-2 to 3e-3 did better than a constant 2e-2, docs/lic.md)")


def _add_model_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument("--checkpoint", nargs="+" if many else None, metavar="CKPT",
                   help="safetensors checkpoint(s) written by `train`" if many else "safetensors checkpoint")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small",
                   help="registered model when no --checkpoint is given: its shipped weights (weights/lic/) "
                        "where there are some, else untrained (default: small)")
    p.add_argument("--entropy", choices=ENTROPY_MODELS, default="3dwecharm", help="entropy model of --preset")
    p.add_argument("--variable-rate", action="store_true",
                   help="the variable-rate model of --preset (<name>-vr: one model for every quality in [1, 6])")
    p.add_argument("--quality", type=quality_arg, nargs="+" if many else None, default=None,
                   help="rate point: an index of the lambda table 1..6 (fixed-rate models), or any number in "
                        "[1, 6] in steps of 0.001 for a variable-rate model" + (
                            " (default: every shipped rate point, else 3)" if many
                            else " (default: the checkpoint's, else 3)"))


def quality_arg(text: str) -> int | float:
    """``'3'`` -> 3, ``'2.5'`` -> 2.5 (the model checks the range: a fixed-rate one takes 1..6 only)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return int(value) if value.is_integer() else value


def build_parser() -> argparse.ArgumentParser:
    parser, sub = new_parser(__package__, "wavelayers learned image codec (3DM-WeConvene): compress, decompress, "
                                          "eval, train, average, info")

    p = sub.add_parser("compress", help="image (PNG, JPEG, ...) -> .wlic file")
    p.add_argument("input")
    p.add_argument("output")
    _add_model_args(p)
    p.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="optimise this image's latents for STEPS steps first (slower encode, same decoder)")
    add_refine_schedule(p)
    p.add_argument("--target-bpp", type=float, default=None, metavar="B",
                   help="variable-rate models: search the quality whose file has B bits per pixel (bisection on "
                        "real coded bytes; instead of --quality)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"relative rate tolerance of --target-bpp (default {DEFAULT_TOLERANCE})")
    add_force(p)

    p = sub.add_parser("decompress", help=".wlic file -> PNG")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--checkpoint", help="the checkpoint that wrote the file (not needed for untrained presets)")
    add_force(p)

    p = sub.add_parser("eval", help="evaluate on an image folder: JSON results + R-D plot")
    p.add_argument("--data", required=True, help="folder of test images (e.g. Kodak)")
    _add_model_args(p, many=True)
    p.add_argument("--out", required=True, help="results JSON (CompressAI format)")
    p.add_argument("--plot", help="R-D plot (PNG)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--classic", default=",".join(CLASSIC_CODECS),
                   help="classic codecs encoded live at matched rates ('' for none)")
    p.add_argument("--anchor", default=None, help="BD-rate anchor: a classic codec name or an anchor JSON file")
    p.add_argument("--dataset-name", default=None, help="data set name for published anchors (default: folder name)")
    p.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="also code every image with its latents refined for STEPS steps and report that curve "
                        "beside the plain one (about a second per step and image on a CPU)")
    add_refine_schedule(p)
    add_force(p)

    p = sub.add_parser("train", help="train (or fine-tune) a model on random crops of an image folder")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--entropy", choices=ENTROPY_MODELS, default="3dwecharm")
    p.add_argument("--quality", type=int, choices=sorted(LAMBDAS),
                   help="rate point (default 3; with --init, the checkpoint's unless given: fine-tune to it)")
    p.add_argument("--init", help="start from this checkpoint (stage 2 after stage 1, or another rate point)")
    p.add_argument("--variable-rate", action="store_true",
                   help="train one variable-rate model (gain units; with --init a fixed-rate checkpoint is "
                        "converted, gains at 1): each step draws a quality from --qualities and uses its lambda")
    p.add_argument("--qualities", type=int, nargs="+", choices=sorted(LAMBDAS), default=None,
                   help="with --variable-rate: the rate points trained (default: all six)")
    p.add_argument("--gain-init", choices=GAIN_INITS, default="ones",
                   help="with --variable-rate --init: start the gains at 1 ('ones', the paper) or at "
                        "sqrt(lambda_s / lambda_init) on y ('lambda')")
    p.add_argument("--gain-lr", type=float, default=None,
                   help="with --variable-rate: learning rate of the gain vectors (default --lr)")
    p.add_argument("--deepen-encoder", type=int, default=0, metavar="BLOCKS",
                   help="with --init: add BLOCKS residual blocks to each of the first three g_a stages, each "
                        "starting as the identity (the model codes as the checkpoint does until trained)")
    p.add_argument("--train", choices=TRAINABLE, default="all",
                   help="what to update: every parameter, or only the encoder (g_a, h_a, forward gains; the "
                        "decoder, and so every bitstream's meaning, stays bit-identical)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT.state.pt (written every --save-every steps and at the end)")
    p.add_argument("--save-every", type=int, default=500, help="write the training state every N steps (0: only at the end)")
    p.add_argument("--metric", choices=("mse", "ms-ssim"), default="mse", help="distortion of the loss")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--w1", type=float, default=1.0, help="stage-2 weight of the low-frequency band rates")
    p.add_argument("--w2", type=float, default=1.0, help="stage-2 weight of the other band rates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--family", choices=sorted(FAMILIES), default="3dm-weconvene",
                   help="model family (chwdta: ChWDTB blocks + ChWP entropy model; --entropy chwp8 or chwp4)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change one LICConfig field (ablations), e.g. --set transform=conv --set levels=1")
    add_device(p)
    p.add_argument("--val", help="folder of held-out images: validation metrics go into the checkpoint")
    p.add_argument("--lr-drop", type=float, default=0.8, help="fraction of the steps after which lr /= 10")
    p.add_argument("--time-limit", type=float, help="stop after this many seconds (steps reached are recorded)")
    p.add_argument("--half", action="store_true", help="store the weights in float16 (rounded before saving)")
    add_force(p)

    p = sub.add_parser("average", help="average the weights of checkpoints of one model (runs from one --init)")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="two or more checkpoints of the same model")
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--weights", type=float, nargs="+", help="one positive weight per checkpoint (default: equal)")
    p.add_argument("--half", action="store_true", help="store the weights in float16 (rounded before saving)")
    add_force(p)

    p = sub.add_parser("info", help="print the header of a .wlic file or the metadata of a checkpoint")
    p.add_argument("path")
    return parser


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> WeConveneLIC:
    if args.checkpoint:
        return load_model(args.checkpoint, quality=args.quality)
    name = model_name("3dm-weconvene", args.preset, args.entropy, args.variable_rate)
    model = load_model(name=name, quality=args.quality)
    if is_untrained(model):
        _warn(UNTRAINED_WARNING.format(name=model.name))
    return model


def _compress(args: argparse.Namespace) -> None:
    if args.target_bpp is not None and args.quality is not None:
        raise ValueError("give --quality or --target-bpp, not both")
    model = _load(args)
    r = compress_file(model, args.input, args.output, force=args.force, refine=args.refine,
                      target_bpp=args.target_bpp, tolerance=args.tolerance, refine_lr=args.refine_lr,
                      refine_lr_end=args.refine_lr_end)
    search = f" (target {args.target_bpp} bpp: {r.encodes} encodes)" if args.target_bpp is not None else ""
    print(f"wrote {args.output}: {r.num_bytes} bytes, {r.bpp:.4f} bpp ({r.width}x{r.height}), "
          f"model {model.model_id} quality {r.quality}{search}, {r.seconds:.2f} s")


def _decompress(args: argparse.Namespace) -> None:
    model, r = decompress_file(args.input, args.output, checkpoint=args.checkpoint, force=args.force)
    if is_untrained(model):
        _warn(UNTRAINED_WARNING.format(name=model.name))
    print(f"wrote {args.output}: {r.width}x{r.height} from {r.num_bytes} bytes ({r.bpp:.4f} bpp), "
          f"model {model.model_id}, {r.seconds:.2f} s")


def _eval(args: argparse.Namespace) -> None:
    if args.checkpoint:
        models = []
        for c in args.checkpoint:
            model = load_model(c)
            qualities = args.quality or (sorted(LAMBDAS) if model.variable_rate else [model.quality])
            models += [load_model(c, quality=q) for q in qualities]
    else:
        name = model_name("3dm-weconvene", args.preset, args.entropy, args.variable_rate)
        shipped = [e for e in manifest().values() if e["model"] in (name, name + "-vr")]
        qualities = args.quality or (sorted(LAMBDAS) if any(e.get("variable_rate") for e in shipped)
                                     else sorted(e["quality"] for e in shipped)) or [3]
        models = [load_model(name=name, quality=q) for q in qualities]
    untrained = [m for m in models if is_untrained(m)]
    for m in untrained:
        _warn(UNTRAINED_WARNING.format(name=f"{m.name} quality {m.quality}"))
    classic = [c for c in args.classic.split(",") if c.strip()]
    summary = run_evaluation(
        models, args.data, out=args.out, plot=args.plot, classic_codecs=classic, anchor=args.anchor,
        limit=args.limit, dataset_name=args.dataset_name, force=args.force, refine=args.refine,
        refine_lr=args.refine_lr, refine_lr_end=args.refine_lr_end,
    )
    print(json.dumps(summary, indent=2))
    print(matched_rate_table(summary))
    if args.refine:
        print(f"\nwith {args.refine} refinement steps:")
        print(matched_rate_table(summary["refined"]))
    if classic:
        print("\nper image (PSNR minus each classic codec's on the same image at the same bpp):")
        print(per_image_table(json.loads(Path(args.out).read_text())))


def _train(args: argparse.Namespace) -> None:
    init = None
    if args.init:
        model = load_model(args.init)
        if args.variable_rate and not model.variable_rate:
            model = to_variable_rate(model, gain_init=args.gain_init)
        if args.deepen_encoder:
            model = deepen_encoder(model, args.deepen_encoder)
        if args.quality is not None:
            model.quality = args.quality
        init = lineage(args.init)  # how the starting weights were made
    elif args.deepen_encoder:
        raise ValueError("--deepen-encoder needs --init (a checkpoint to deepen); for a new model use "
                         "--set encoder_blocks=N")
    else:
        entropy = args.entropy if args.family == "3dm-weconvene" or args.entropy.startswith("chwp") else "chwp8"
        name = model_name(args.family, args.preset, entropy, args.variable_rate)
        changes = dict(_parse_setting(s) for s in args.set)
        config = model_config(name, **changes)
        if changes:
            name = name + "-" + "-".join(f"{k}={v}" for k, v in sorted(changes.items()))
        torch.manual_seed(args.seed)
        model = WeConveneLIC(config, name=name, quality=3 if args.quality is None else args.quality)
    command = command_line(__package__, args.argv)
    run_training(model, args.data, args.out, steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr,
                 w1=args.w1, w2=args.w2, seed=args.seed, command=command, force=args.force, device=args.device,
                 lr_drop=args.lr_drop, time_limit=args.time_limit, val=args.val, half=args.half,
                 metric=args.metric, save_every=args.save_every, resume=args.resume, init=init,
                 qualities=args.qualities, gain_lr=args.gain_lr, train=args.train)


def _average(args: argparse.Namespace) -> None:
    command = command_line(__package__, args.argv)
    model = average_checkpoints(args.checkpoints, args.out, weights=args.weights, half=args.half, command=command,
                                force=args.force)
    print(f"wrote {args.out}: {model.name}, the mean of {len(args.checkpoints)} checkpoints, model {model.model_id}")


def _parse_setting(text: str) -> tuple[str, object]:
    """``'levels=1'`` -> ``('levels', 1)`` (ints stay ints, everything else a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--set expects FIELD=VALUE, got {text!r}")
    return key, int(value) if value.lstrip("-").isdigit() else value


def _info(args: argparse.Namespace) -> None:
    path = Path(args.path)
    if path.suffix == ".safetensors":
        print(json.dumps(read_metadata(path), indent=2))
        return
    header, streams = unpack(path.read_bytes())
    print(json.dumps({"model_id": header.model_id, "quality": header.quality, "height": header.height,
                      "width": header.width, "channels": header.channels,
                      "stream_bytes": [len(s) for s in streams]}, indent=2))


_COMMANDS = {"compress": _compress, "decompress": _decompress, "eval": _eval, "train": _train, "average": _average,
             "info": _info}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 error; BitstreamError is a ValueError)."""
    return run(build_parser(), _COMMANDS, argv)
