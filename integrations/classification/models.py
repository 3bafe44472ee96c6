"""CIFAR-style ResNet-18/34 (3x3 stem, no max-pool) and the wavelet switch.

Layout for a 32x32 input (``w`` = ``width``, 64 in the standard nets)::

    conv1 3x3 (3 -> w), bn1, relu                       32x32
    layer1: BasicBlock x n1, w channels, stride 1       32x32
    layer2: BasicBlock x n2, 2w channels, stride 2      16x16   <- layer2.0.conv1, layer2.0.downsample.0
    layer3: BasicBlock x n3, 4w channels, stride 2       8x8    <- layer3.0.conv1, layer3.0.downsample.0
    layer4: BasicBlock x n4, 8w channels, stride 2       4x4    <- layer4.0.conv1, layer4.0.downsample.0
    avgpool (global), fc (8w -> num_classes)

ResNet-18: ``n = (2, 2, 2, 2)``; ResNet-34: ``n = (3, 4, 6, 3)``. The down-sampling sites (arrows)
are the stride-2 3x3 conv of each stage's first block and its 1x1 stride-2 shortcut conv
(``downsample``, as torchvision names it). ``build_model('cifar-resnet18', wavelet='haar')`` swaps
them for 3DM-WeConv layers (``WeConv3D``) through :func:`wavelayers.replace_downsampling`; every
BatchNorm stays where it is. Registered names: ``cifar-resnet18``, ``cifar-resnet34``.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from torch import Tensor, nn

from wavelayers import replace_downsampling

from ..toolkit.registry import register_model
from ..toolkit.wavelets import WAVELETS

__all__ = ["CifarResNet", "BasicBlock", "ARCHS", "WAVELETS", "SITES", "MODEL_NAMES", "cifar_resnet", "build_model",
           "model_name"]

ARCHS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
MODEL_NAMES = tuple(f"cifar-{arch}" for arch in ARCHS)
SITES = ("all", "main")  # 'main': keep the 1x1 shortcut convs


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``; ``(N, cin, H, W) -> (N, cout, H/s, W/s)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet for 32x32 images: ``(N, 3, H, W) -> (N, num_classes)`` logits (any ``H, W >= 1``)."""

    def __init__(self, blocks: tuple[int, ...], num_classes: int = 100, width: int = 64) -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        channels = width
        for i, n in enumerate(blocks):
            out = width * 2**i
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(channels, out, stride)] + [BasicBlock(out, out) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            channels = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def cifar_resnet(arch: str = "resnet18", num_classes: int = 100, width: int = 64) -> CifarResNet:
    """The plain (baseline) CIFAR ResNet ``arch`` ('resnet18' or 'resnet34')."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {tuple(ARCHS)}, got {arch!r}")
    return CifarResNet(ARCHS[arch], num_classes=num_classes, width=width)


def model_name(arch: str) -> str:
    """``'resnet18'`` -> the registered name ``'cifar-resnet18'``."""
    return f"cifar-{arch}"


def build_model(
    name: str = "cifar-resnet18",
    *,
    wavelet: str = "none",
    num_classes: int = 100,
    width: int = 64,
    levels: int = 2,
    channel_levels: int = 1,
    sites: str = "all",
    **layer_kwargs: Any,
) -> nn.Module:
    """A CIFAR ResNet, with its down-sampling done by ``WeConv3D`` unless ``wavelet='none'``.

    Args:
        name: 'cifar-resnet18' or 'cifar-resnet34'. wavelet: 'none' (baseline), 'haar', 'bior2.2'
            (CDF 5/3), 'bior4.4' (CDF 9/7), or another wavelet the layers accept.
        width: channels of the first stage (64 in the standard nets; smaller for tests).
        levels, channel_levels: spatial / channel DWT levels of each ``WeConv3D``.
        sites: 'all' (3x3 stride-2 convs and 1x1 stride-2 shortcut convs: 6 layers) or 'main'
            (the 3 stride-2 3x3 convs only).
        **layer_kwargs: more ``WeConv3D`` arguments (``norm``, ``lf_kernel``, ``mode``, ...).

    Returns:
        The model; its ``rewrite_report`` (the rewriter's report, ``None`` for the baseline) says
        which sites were replaced.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {name!r}")
    if sites not in SITES:
        raise ValueError(f"sites must be one of {SITES}, got {sites!r}")
    model = cifar_resnet(name.removeprefix("cifar-"), num_classes, width)
    report = None
    if wavelet != "none":
        model, report = replace_downsampling(
            model, wavelet=wavelet, levels=levels, channel_levels=channel_levels, shortcuts=sites == "all",
            inplace=True, **layer_kwargs,
        )
    model.rewrite_report = report
    return model


for _name in MODEL_NAMES:
    register_model(_name, partial(build_model, _name), integration=__package__.rpartition(".")[2])
