"""Train, evaluate and code with DVC, with or without wavelet layers: the command line of
``python -m integrations.video`` (``--help`` for the verbs and options)::

  python examples/uvg_dvc.py train --data /data/vimeo_septuplet --lambda 2048 --wavelet bior4.4 --preset dvc \\
      --out runs/dvc_bior44_2048
  python examples/uvg_dvc.py eval --data /data/UVG_png --checkpoint runs/dvc_bior44_2048/last.safetensors \\
      --gop 12 --out results/uvg
  python examples/uvg_dvc.py eval --demo --out /tmp/dvc_demo      (synthetic frames; a smoke run)
"""
import sys

from integrations.video.cli import main

if __name__ == "__main__":
    sys.exit(main())
