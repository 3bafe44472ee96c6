"""``python -m <package>.classification {train, eval}``: the CIFAR-100 ResNet experiment
(``examples/cifar100_resnet.py`` is the same command line)."""
from __future__ import annotations

import argparse
import json

from torch.utils.data import DataLoader

from ..toolkit.cli import new_parser, run
from .data import DatasetNotFound, cifar100, eval_transform
from .models import ARCHS, SITES, WAVELETS
from .training import TrainConfig, config_from_dict, evaluate, load_weights
from .training import run as run_training

__all__ = ["build_parser", "main"]

_D = TrainConfig()

USAGE = """\
CIFAR-100 image classification with CIFAR-style ResNet-18/34, baseline or with the down-sampling
layers replaced by 3DM-WeConv (WeConv3D) through wavelayers.replace_downsampling.

The paper's numbers (CIFAR-100 top-1: ResNet-18 75.61 -> 76.24, ResNet-34 76.96 -> 77.68) need
the full recipe: 200 epochs at batch 128 on a GPU (the defaults below).

examples (python -m integrations.classification ... is the same command line):
  # paper recipe, one GPU (baseline, then 3DM-WeConv with the 9/7 wavelet)
  python examples/cifar100_resnet.py train --data ~/data --arch resnet18 --wavelet none    --out runs/r18-none
  python examples/cifar100_resnet.py train --data ~/data --arch resnet18 --wavelet bior4.4 --out runs/r18-bior4.4
  # the same on 4 GPUs (global batch stays 128: 32 per process)
  torchrun --nproc_per_node 4 examples/cifar100_resnet.py train --data ~/data --wavelet bior4.4 --out runs/r18-bior4.4
  # a short CPU smoke run
  python examples/cifar100_resnet.py train --data ~/data --epochs 1 --limit-train 512 --limit-test 256 --width 16 --device cpu
  # continue an interrupted run (reads OUT/last.pt)
  python examples/cifar100_resnet.py train --data ~/data --wavelet bior4.4 --out runs/r18-bior4.4 --resume
  # test accuracy of saved weights
  python examples/cifar100_resnet.py eval --checkpoint runs/r18-bior4.4/best.safetensors --data ~/data

data: DIR/cifar-100-python/{train,test,meta} as torchvision stores CIFAR-100 (extract
cifar-100-python.tar.gz into DIR). Nothing is downloaded unless --download is given.
outputs in OUT: last.pt (resume state), best.safetensors / final.safetensors (weights + settings),
log.csv (lr, train loss/top-1, test loss/top-1/top-5, seconds per epoch).
"""


def _add_data_args(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--data", default=_D.data, metavar="DIR",
                       help="folder holding cifar-100-python/ (default: %(default)s)")
    group.add_argument("--no-verify", dest="verify", action="store_false",
                       help="skip torchvision's MD5 check of the files (for subsets or fixtures in CIFAR-100 format)")
    group.add_argument("--limit-test", type=int, metavar="N", help="evaluate on the first N test images only")
    group.add_argument("--workers", type=int, default=_D.workers, help="data loader processes (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser, sub = new_parser(__package__, USAGE)
    p = sub.add_parser("train", help="train (or resume) and evaluate every epoch", description=USAGE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    _add_data_args(data)
    data.add_argument("--download", action="store_true",
                      help="download CIFAR-100 into --data if it is missing (needs internet access)")
    data.add_argument("--limit-train", type=int, metavar="N", help="train on the first N training images only")
    data.add_argument("--rotation", type=float, default=_D.rotation, metavar="DEG",
                      help="random rotation augmentation in degrees, 0 to disable (default: %(default)s)")

    model = p.add_argument_group("model")
    model.add_argument("--arch", choices=tuple(ARCHS), default=_D.arch, help="(default: %(default)s)")
    model.add_argument("--wavelet", choices=WAVELETS, default=_D.wavelet,
                       help="'none': baseline; else the wavelet of the WeConv3D down-sampling layers: "
                            "haar, bior2.2 (CDF 5/3), bior4.4 (CDF 9/7) (default: %(default)s)")
    model.add_argument("--levels", type=int, default=_D.levels, help="spatial DWT levels per WeConv3D (default: %(default)s)")
    model.add_argument("--channel-levels", type=int, default=_D.channel_levels,
                       help="channel DWT levels per WeConv3D (default: %(default)s)")
    model.add_argument("--sites", choices=SITES, default=_D.sites,
                       help="'main': replace the stride-2 3x3 convs (3 layers); 'all': also the 1x1 stride-2 "
                            "shortcut convs (6 layers) (default: %(default)s)")
    model.add_argument("--width", type=int, default=_D.width,
                       help="channels of the first stage; 64 is the standard net (default: %(default)s)")

    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=_D.epochs, help="(default: %(default)s)")
    train.add_argument("--batch-size", type=int, default=_D.batch_size,
                       help="global batch size, split over torchrun processes (default: %(default)s)")
    train.add_argument("--lr", type=float, default=_D.lr, help="peak SGD learning rate (default: %(default)s)")
    train.add_argument("--momentum", type=float, default=_D.momentum, help="(default: %(default)s)")
    train.add_argument("--weight-decay", type=float, default=_D.weight_decay, help="(default: %(default)s)")
    train.add_argument("--schedule", choices=("multistep", "cosine"), default=_D.schedule,
                       help="lr schedule after warm-up (default: %(default)s)")
    train.add_argument("--milestones", type=float, nargs="+", default=list(_D.milestones), metavar="F",
                       help="multistep: fractions of --epochs where lr is multiplied by --gamma "
                            "(default: 0.3 0.6 0.8, i.e. epochs 60/120/160 of 200)")
    train.add_argument("--gamma", type=float, default=_D.gamma, help="multistep decay factor (default: %(default)s)")
    train.add_argument("--warmup-epochs", type=float, default=_D.warmup_epochs,
                       help="linear per-step warm-up length in epochs (default: %(default)s)")
    train.add_argument("--seed", type=int, default=_D.seed, help="(default: %(default)s)")

    run_g = p.add_argument_group("run")
    run_g.add_argument("--device", default=_D.device,
                       help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:1', ... (default: %(default)s)")
    run_g.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    run_g.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under torchrun (CUDA only)")
    run_g.add_argument("--out", default=_D.out, metavar="DIR", help="output folder (default: %(default)s)")
    run_g.add_argument("--resume", nargs="?", const="auto", metavar="CHECKPOINT",
                       help="continue training: alone, from OUT/last.pt; or from CHECKPOINT")
    run_g.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bars")

    e = sub.add_parser("eval", help="test loss, top-1 and top-5 of saved weights")
    e.add_argument("--checkpoint", required=True, help="best.safetensors / final.safetensors written by `train`")
    _add_data_args(e.add_argument_group("data"))
    e.add_argument("--batch-size", type=int, default=_D.batch_size, help="(default: %(default)s)")
    e.add_argument("--device", default="cpu", help="(default: %(default)s)")
    e.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bar")
    return parser


def _train(args: argparse.Namespace) -> None:
    values = {k: v for k, v in vars(args).items() if k not in ("command", "argv")}
    values["milestones"] = tuple(values["milestones"])
    config = config_from_dict(values)
    config.validate()
    result = run_training(config)
    print(f"done: last epoch {result.get('epoch', '-')}, best test top-1 {result['best_top1']:.2f} %, outputs in {result['out']}")


def _eval(args: argparse.Namespace) -> None:
    model = load_weights(args.checkpoint, args.device)
    test_set = cifar100(args.data, False, eval_transform(), verify=args.verify, limit=args.limit_test)
    loader = DataLoader(test_set, args.batch_size, num_workers=args.workers)
    print(json.dumps(evaluate(model, loader, progress=args.progress), indent=2))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; 0 on success, 2 when the data set is missing (other errors propagate)."""
    return run(build_parser(), {"train": _train, "eval": _eval}, argv, errors=(DatasetNotFound,))
