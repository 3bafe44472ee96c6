"""Train / evaluate MIRNet-v2 real-image denoisers on SIDD: the command line of
``python -m integrations.denoising`` (``--help`` for the verbs and options)::

    python examples/sidd_mirnet.py train --data DIR --val-data DIR --preset small --wavelet haar --iters 200 \
        --patch-size 64 --batch-size 4 --out runs/small-haar
    python examples/sidd_mirnet.py eval --checkpoint runs/small-haar/model_best.safetensors --data DIR
"""
import sys

from integrations.denoising.cli import main

if __name__ == "__main__":
    sys.exit(main())
