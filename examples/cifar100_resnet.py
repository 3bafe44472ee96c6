"""CIFAR-100 with CIFAR-style ResNet-18/34, baseline or 3DM-WeConv down-sampling (``--help`` for all options).

The command line of ``python -m integrations.classification``::

    python examples/cifar100_resnet.py train --data DIR --arch resnet18 --wavelet bior4.4 --out runs/r18-bior4.4
    torchrun --nproc_per_node 4 examples/cifar100_resnet.py train --data DIR --wavelet bior4.4 --out runs/r18-bior4.4
    python examples/cifar100_resnet.py eval --checkpoint runs/r18-bior4.4/best.safetensors --data DIR
"""
import sys

from integrations.classification.cli import main

if __name__ == "__main__":
    sys.exit(main())
