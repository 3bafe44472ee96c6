"""Parameters and MACs of the UperNet-R50 configs (baseline vs 3DM-WeConv) at one input size.

    .venv/bin/python benchmarks/segmentation_complexity.py --size 512

MACs come from mmengine's ``get_model_complexity_info`` (a jit-trace FLOP analyser in the fvcore
convention: one multiply-add counts once), so they include the matrix products of the wavelet
transforms, not only convolutions. SyncBN is built as BN (no process group on CPU).
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

CONFIGS = Path(__file__).resolve().parents[1] / "integrations" / "segmentation" / "configs"
DEFAULT = [
    "upernet_r50_8xb2-80k_ade20k-512x512.py",
    "upernet_r50-weconv3d-bior4.4_8xb2-80k_ade20k-512x512.py",
    "upernet_r50-weconv3d-bior4.4-stages_8xb2-80k_ade20k-512x512.py",
    "upernet_r50-weconv3d-haar_8xb2-80k_ade20k-512x512.py",
]


def build_cpu_model(config: Path) -> torch.nn.Module:
    cfg = Config.fromfile(str(config))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pretrained = None
    for part in ("backbone", "decode_head", "auxiliary_head"):
        model_cfg[part].norm_cfg = dict(type="BN", requires_grad=True)
    return MODELS.build(model_cfg).eval()


def measure(config: Path, size: int) -> dict[str, float]:
    model = build_cpu_model(config)
    with torch.no_grad():
        info = get_model_complexity_info(model, inputs=(torch.zeros(1, 3, size, size),), show_table=False,
                                         show_arch=False)
        backbone = get_model_complexity_info(model.backbone, inputs=(torch.zeros(1, 3, size, size),),
                                             show_table=False, show_arch=False)
    return dict(
        params=sum(p.numel() for p in model.parameters()) / 1e6,
        backbone_params=sum(p.numel() for p in model.backbone.parameters()) / 1e6,
        gmacs=info["flops"] / 1e9,
        backbone_gmacs=backbone["flops"] / 1e9,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="square input size (default 512)")
    parser.add_argument("--configs", nargs="+", default=DEFAULT, help="config file names under the configs folder")
    args = parser.parse_args()
    register_all_modules()
    print(f"| config | params (M) | backbone params (M) | GMACs @{args.size}² | backbone GMACs |")
    print("|---|---:|---:|---:|---:|")
    for name in args.configs:
        r = measure(CONFIGS / name, args.size)
        print(f"| {Path(name).stem} | {r['params']:.2f} | {r['backbone_params']:.2f} | {r['gmacs']:.1f} | "
              f"{r['backbone_gmacs']:.2f} |")


if __name__ == "__main__":
    main()
