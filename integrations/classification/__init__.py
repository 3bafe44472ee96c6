"""CIFAR-100 classification with CIFAR-style ResNet-18/34, baseline or with 3DM-WeConv down-sampling.

``build_model('cifar-resnet18', wavelet='haar')`` builds the net (``wavelet='none'`` for the
baseline; also ``toolkit.create_model``); ``training.run(TrainConfig(...))`` trains and evaluates
it; ``python -m <package>.classification {train, eval}`` (= ``examples/cifar100_resnet.py``) is the
command line. See ``docs/classification.md``.
"""
from .data import CIFAR100Files, DatasetNotFound, cifar100, write_cifar100_fixture
from .models import ARCHS, MODEL_NAMES, SITES, WAVELETS, BasicBlock, CifarResNet, build_model, cifar_resnet
from .training import TrainConfig, evaluate, load_weights, run

__all__ = [
    "ARCHS", "MODEL_NAMES", "SITES", "WAVELETS", "BasicBlock", "CifarResNet", "build_model", "cifar_resnet",
    "CIFAR100Files", "DatasetNotFound", "cifar100", "write_cifar100_fixture",
    "TrainConfig", "evaluate", "load_weights", "run",
]
