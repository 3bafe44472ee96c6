"""Train or evaluate an mmsegmentation config (UperNet-R50 on ADE20K, baseline or 3DM-WeConv): the
command line of ``python -m integrations.segmentation``::

    python examples/ade20k_upernet.py train integrations/segmentation/configs/upernet_r50-weconv3d-bior4.4_8xb2-80k_ade20k-512x512.py \
        --data-root data/ade/ADEChallengeData2016 --work-dir work_dirs/weconv3d
    torchrun --nproc_per_node 8 examples/ade20k_upernet.py train CONFIG --launcher pytorch --data-root ...
    python examples/ade20k_upernet.py eval CONFIG --data-root ... --checkpoint work_dirs/weconv3d/iter_80000.pth

Needs the mmseg stack: ``bash tools/install_mmseg.sh``. No data is downloaded.
"""
import sys

from integrations.segmentation.cli import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
