"""``WaveResNetV1c``: mmsegmentation's ResNetV1c with its down-sampling done by 3DM-WeConv (WeConv3D).

Down-sampling sites of a ResNetV1c (deep stem, ``style='pytorch'``), all halving ``H x W`` to
``ceil(H/2) x ceil(W/2)``::

    stem.0            conv3x3 s2 (in -> stem_channels/2)        replaced when replace_stem
    maxpool           MaxPool2d(3, 2, 1)                         replaced when replace_stem
    layer{i+1}.0.convK  the stride-2 conv of stage i's first block  replaced for i in stages
    layer{i+1}.0.downsample.0  conv1x1 s2 of the shortcut          replaced when replace_shortcut

Each site becomes ``WeConv3D(in, out, stride=2, kernel_size=k, wavelet, levels, channel_levels,
norm, **wave_cfg)`` with the channels and kernel of the conv it replaces (the max-pool becomes a
``stem_channels -> stem_channels`` 3x3 WeConv3D). The swap is explicit here (not the generic
rewriter) so that config keys map one-to-one onto sites and so that pretrained ResNet checkpoints
still load: a load-state-dict pre-hook maps a replaced conv's ``weight`` onto the WeConv3D head conv.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mmcv.cnn import build_norm_layer
from mmseg.models.backbones import ResNetV1c
from mmseg.registry import MODELS
from torch import nn

from wavelayers import WeConv3D

from .registration import register_once

__all__ = ["WaveResNetV1c"]

_BACKBONE_NORM = "backbone"


def _conv_weight_to_head(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook: a plain conv checkpoint's ``<prefix>weight`` feeds ``<prefix>head.weight``."""
    old, new = prefix + "weight", prefix + "head.weight"
    if old in state_dict and new not in state_dict and state_dict[old].shape == module.head.weight.shape:
        state_dict[new] = state_dict.pop(old)


def _strided_convs(block: nn.Module) -> list[str]:
    """Names of the direct Conv2d children of ``block`` with stride 2 (its main-path down-sampling)."""
    return [name for name, m in block.named_children() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]


def _check_replaceable(conv: nn.Module, where: str) -> nn.Conv2d:
    if type(conv) is not nn.Conv2d:
        raise TypeError(f"{where}: expected a plain nn.Conv2d to replace, got {type(conv).__name__}")
    k = conv.kernel_size
    if k[0] != k[1] or k[0] % 2 == 0 or conv.padding != (k[0] // 2, k[0] // 2):
        raise ValueError(f"{where}: expected a square odd kernel with padding k//2, got {conv}")
    if conv.groups != 1 or conv.dilation != (1, 1):
        raise ValueError(f"{where}: grouped or dilated convs are not replaced, got {conv}")
    return conv


@register_once(MODELS)
class WaveResNetV1c(ResNetV1c):
    """ResNetV1c whose stride-2 convs / stem max-pool are 3DM-WeConv (``WeConv3D``) layers.

    Output: the same tuple of feature maps as ``ResNetV1c`` (same channels, same sizes for every
    input size, strides 4/8/16/32), so necks and heads are unchanged.

    Args:
        wavelet: wavelet of the WeConv3D layers ('haar', 'bior2.2' (5/3), 'bior4.4' (9/7), ...).
        levels: spatial DWT levels inside each WeConv3D.
        channel_levels: channel DWT levels inside each WeConv3D (0 = spatial DWT only).
        stages: indices (0-based, as ``out_indices``) of the residual stages whose stride-2
            down-sampling is replaced; each must have stride 2 in ``strides``.
        replace_stem: also replace the stem's stride-2 conv and its max-pool.
        replace_shortcut: also replace the 1x1 stride-2 conv of each replaced stage's shortcut.
        wave_norm: norm of the wavelet bands: 'backbone' (the backbone's ``norm_cfg``, so SyncBN
            under the 8-GPU configs), or a WeConv3D norm name ('batch', 'group', 'gdn', None, ...).
        wave_cfg: further WeConv3D keyword arguments (``mode``, ``lf_kernel``, ``hf_kernel``, ``act``,
            ``lf_bands``, ``separate_channel_groups``).
        **kwargs: ResNetV1c arguments (``depth``, ``strides``, ``norm_cfg``, ...).

    Attributes:
        wavelet_sites: module paths that were replaced, in forward order.
    """

    def __init__(
        self,
        wavelet: str = "bior4.4",
        levels: int = 2,
        channel_levels: int = 1,
        stages: Iterable[int] = (1, 2, 3),
        replace_stem: bool = True,
        replace_shortcut: bool = False,
        wave_norm: str | None = _BACKBONE_NORM,
        wave_cfg: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        stages = tuple(stages)
        for s in stages:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < self.num_stages:
                raise ValueError(f"stages must hold stage indices in [0, {self.num_stages}), got {stages!r}")
            if self.strides[s] != 2:
                raise ValueError(f"stage {s} has stride {self.strides[s]}, not 2: nothing to replace (stages={stages!r})")
        for flag, name in ((replace_stem, "replace_stem"), (replace_shortcut, "replace_shortcut")):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        if wave_cfg is not None and not isinstance(wave_cfg, Mapping):
            raise TypeError(f"wave_cfg must be a dict of WeConv3D arguments, got {type(wave_cfg).__name__}")
        self._wave_kwargs = dict(wavelet=wavelet, levels=levels, channel_levels=channel_levels, **(wave_cfg or {}))
        self._wave_norm = wave_norm
        self.wavelet_sites: list[str] = []

        if replace_stem:
            for name in _strided_convs(self.stem):
                self._replace_conv(self.stem, name, f"stem.{name}")
            self.maxpool = self._make_wave(self.stem_channels, self.stem_channels, 3)
            self.wavelet_sites.append("maxpool")
        for s in sorted(set(stages)):
            layer_name = self.res_layers[s]
            first_block = getattr(self, layer_name)[0]
            for name in _strided_convs(first_block):
                self._replace_conv(first_block, name, f"{layer_name}.0.{name}")
            if replace_shortcut and first_block.downsample is not None:
                self._replace_conv(first_block.downsample, "0", f"{layer_name}.0.downsample.0")
        self._freeze_stages()  # the new layers of frozen stages are frozen too

    def _freeze_stages(self) -> None:
        """As ResNet's, with a replaced max-pool frozen along with the stem."""
        super()._freeze_stages()
        if self.frozen_stages >= 0 and isinstance(self.maxpool, WeConv3D):
            self.maxpool.eval()
            for param in self.maxpool.parameters():
                param.requires_grad = False

    def _make_wave(self, in_channels: int, out_channels: int, kernel_size: int) -> WeConv3D:
        norm = "batch" if self._wave_norm == _BACKBONE_NORM else self._wave_norm
        layer = WeConv3D(in_channels, out_channels, stride=2, kernel_size=kernel_size, norm=norm, **self._wave_kwargs)
        if self._wave_norm == _BACKBONE_NORM:
            self._use_backbone_norm(layer)
        return layer

    def _use_backbone_norm(self, layer: nn.Module) -> None:
        """Swap every BatchNorm2d inside ``layer`` for the backbone's ``norm_cfg`` layer."""
        for parent in list(layer.modules()):
            for name, child in parent.named_children():
                if type(child) is nn.BatchNorm2d:
                    setattr(parent, name, build_norm_layer(self.norm_cfg, child.num_features)[1])

    def _replace_conv(self, parent: nn.Module, name: str, path: str) -> None:
        conv = _check_replaceable(parent._modules[name], path)
        layer = self._make_wave(conv.in_channels, conv.out_channels, conv.kernel_size[0])
        layer.register_load_state_dict_pre_hook(_conv_weight_to_head)
        parent._modules[name] = layer
        self.wavelet_sites.append(path)

