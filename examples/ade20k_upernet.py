"""Train or evaluate an mmsegmentation config (UperNet-R50 on ADE20K, baseline or 3DM-WeConv).

One process (CPU or one GPU):
    python examples/ade20k_upernet.py integrations/segmentation/configs/upernet_r50-weconv3d-bior4.4_8xb2-80k_ade20k-512x512.py \
        --data-root data/ade/ADEChallengeData2016 --work-dir work_dirs/weconv3d
8 GPUs (mmengine's distributed launcher through torchrun):
    torchrun --nproc_per_node 8 examples/ade20k_upernet.py CONFIG --launcher pytorch --data-root ...
Evaluate a checkpoint on the validation split:
    python examples/ade20k_upernet.py CONFIG --data-root ... --eval work_dirs/weconv3d/iter_80000.pth

Needs the mmseg stack: ``bash tools/install_mmseg.sh``. No data is downloaded.
"""
from __future__ import annotations

import argparse
import os

from mmengine.config import DictAction

from integrations.segmentation.training import evaluate, load_config, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="mmseg config file (e.g. integrations/segmentation/configs/*.py)")
    parser.add_argument("--work-dir", help="folder for logs and checkpoints (default: work_dirs/<config name>)")
    parser.add_argument("--data-root", help="ADEChallengeData2016 folder (default: the config's data_root)")
    parser.add_argument(
        "--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
        help="resume training: alone, from the latest checkpoint in --work-dir; or from CHECKPOINT",
    )
    parser.add_argument("--eval", metavar="CHECKPOINT", help="only evaluate CHECKPOINT on the test split")
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, default={},
        help="config overrides key=value, e.g. train_cfg.max_iters=1000 train_dataloader.batch_size=4",
    )
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                        help="'none': one process; 'pytorch': under torchrun (one process per GPU)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.work_dir, args.data_root, args.cfg_options, args.resume, args.launcher)
    if args.eval:
        print(evaluate(cfg, args.eval))
    else:
        train(cfg)


if __name__ == "__main__":
    main()
