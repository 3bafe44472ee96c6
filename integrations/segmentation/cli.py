"""``python -m <package>.segmentation {train, eval} CONFIG ...``: an mmsegmentation config (UperNet-R50
on ADE20K, baseline or 3DM-WeConv) through mmengine's Runner, with tools/train.py-style arguments
(``examples/ade20k_upernet.py`` is the same command line).

One process (CPU or one GPU):
    python examples/ade20k_upernet.py train integrations/segmentation/configs/upernet_r50-weconv3d-bior4.4_8xb2-80k_ade20k-512x512.py \
        --data-root data/ade/ADEChallengeData2016 --work-dir work_dirs/weconv3d
8 GPUs (mmengine's distributed launcher through torchrun):
    torchrun --nproc_per_node 8 examples/ade20k_upernet.py train CONFIG --launcher pytorch --data-root ...
Evaluate a checkpoint on the validation split:
    python examples/ade20k_upernet.py eval CONFIG --data-root ... --checkpoint work_dirs/weconv3d/iter_80000.pth

Needs the mmseg stack: ``bash tools/install_mmseg.sh``. No data is downloaded.
"""
from __future__ import annotations

import argparse
import os

from mmengine.config import DictAction

from ..toolkit.cli import new_parser, run
from .training import evaluate, load_config, train

__all__ = ["build_parser", "parse_args", "main"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="mmseg config file (e.g. integrations/segmentation/configs/*.py)")
    p.add_argument("--work-dir", help="folder for logs and checkpoints (default: work_dirs/<config name>)")
    p.add_argument("--data-root", help="ADEChallengeData2016 folder (default: the config's data_root)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                   help="config overrides key=value, e.g. train_cfg.max_iters=1000 train_dataloader.batch_size=4")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                   help="'none': one process; 'pytorch': under torchrun (one process per GPU)")
    p.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser, sub = new_parser(__package__, __doc__)
    t = sub.add_parser("train", help="train (with the config's validation interval)")
    _common(t)
    t.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="resume training: alone, from the latest checkpoint in --work-dir; or from CHECKPOINT")
    e = sub.add_parser("eval", help="evaluate a checkpoint on the test split")
    _common(e)
    e.add_argument("--checkpoint", required=True, help="checkpoint (.pth) to evaluate")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed arguments; sets ``LOCAL_RANK`` from ``--local-rank`` (mmengine's launchers read it)."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def _config(args: argparse.Namespace, resume: bool | str = False):
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return load_config(args.config, args.work_dir, args.data_root, args.cfg_options, resume, args.launcher)


def _train(args: argparse.Namespace) -> None:
    train(_config(args, args.resume))


def _eval(args: argparse.Namespace) -> None:
    print(evaluate(_config(args), args.checkpoint))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; 0 on success, 2 on an error (printed as ``error: ...``)."""
    return run(build_parser(), {"train": _train, "eval": _eval}, argv)
