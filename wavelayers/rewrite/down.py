"""``replace_downsampling`` and its site finder."""
from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn

from .._deprecation import warn_deprecated
from .engine import Plan, Skip, check_choice, check_flags, make_builder, plan_siblings, rewrite
from .options import RewriteOptions, rewriter
from .report import RewriteReport
from .rules import Verdict, down_conv, down_pool
from .walk import Site

__all__ = ["replace_downsampling", "find_down", "judge_down"]


def judge_down(
    module: nn.Module, following: nn.Module | None, *, pooling: str = "wavelet", fuse: bool = True,
    floor_sizes: str = "crop",
) -> Verdict:
    """The verdict for one child: a strided conv or pool (``following``: the next sibling in an
    ``nn.Sequential``, which a pool may fuse with; else None)."""
    if isinstance(module, nn.Conv2d):
        return down_conv(module, floor_sizes)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return down_pool(module, following, pooling=pooling, fuse=fuse, floor_sizes=floor_sizes)
    return None


def find_down(
    parent: nn.Module, children: list[Site], *, pooling: str = "wavelet", fuse: bool = True, floor_sizes: str = "crop"
) -> list[Plan | Skip]:
    """The down-sampling sites among ``parent``'s ``children``."""
    judge = partial(judge_down, pooling=pooling, fuse=fuse, floor_sizes=floor_sizes)
    return plan_siblings(children, judge, adjacent=isinstance(parent, nn.Sequential))


@rewriter
def replace_downsampling(
    model: nn.Module, wavelet: str, options: RewriteOptions, *, pooling: str = "wavelet", shortcuts: bool = True,
    fuse: bool = True, floor_sizes: str = "crop", **layer_kwargs: Any,
) -> tuple[nn.Module, RewriteReport]:
    """Replace the 2x down-sampling modules of ``model`` by wavelet layers with the same channels
    and output shapes; return ``(model, report)``.

    Args:
        model: any ``nn.Module``.
        wavelet: wavelet of the new layers ('haar', 'bior2.2', 'bior4.4', any PyWavelets name).
        layer: class (or callable) built as ``layer(in, out, stride=2, kernel_size=k, wavelet=...,
            [levels=...], [mode=...], **layer_kwargs)``: ``WeConv3D`` (default), ``WeConv2D``, or
            your own (see :class:`~wavelayers.rewrite.LayerFactory`; checked before any site is built).
        mode: boundary mode passed to the layers and re-samplers (``None``: their default, 'jpeg2000').
        levels: spatial DWT levels passed to ``layer`` (``None``: the layer's default).
        include / exclude: glob patterns (``fnmatch``) on module paths such as ``'layer4.*'``; a
            site is replaced when it matches some ``include`` pattern (all, if ``None``) and no
            ``exclude`` pattern.
        dry_run: only report what would be replaced; ``model`` is returned unchanged.
        inplace: modify ``model`` itself; otherwise a deep copy is rewritten and ``model`` is untouched.
        pooling: lone strided pools -> 'wavelet' (``WaveletDownsample``, no parameters), 'layer'
            (``layer(C, C, kernel_size=3)``, ``C`` read by a probe forward of ``example_input``) or 'skip'.
        shortcuts: also replace the strided convs of residual ``downsample`` / ``shortcut`` branches.
        fuse: a strided pool followed by a stride-1 conv in an ``nn.Sequential`` becomes one
            ``layer(in, out, kernel_size=k)``; the conv's slot becomes ``nn.Identity``.
        floor_sizes: sites that give ``floor(H/2)``: 'crop' (``FloorDownsample`` wrapper) or 'skip'.
        copy_weights: seed the new layer's head conv with the old conv's weights where shapes match.
        example_input: a tensor (or a tuple of forward arguments) for the channel probe.
        **layer_kwargs: more ``layer`` arguments (``channel_levels``, ``norm``, ...).

    Before 0.2 ``layer`` came second by position and ``fuse`` was ``fuse_pool_conv``; both still
    work until 0.3, with a DeprecationWarning.

    Returns:
        ``(model, report)``; ``print(report)`` shows the replaced and the skipped sites.

    Example::

        model, report = replace_downsampling(torchvision.models.resnet18(num_classes=100), "haar")
        print(report)
    """
    if "fuse_pool_conv" in layer_kwargs:
        warn_deprecated("replace_downsampling(fuse_pool_conv=...) is now spelled fuse=...", stacklevel=5)
        fuse = layer_kwargs.pop("fuse_pool_conv")
    builder = make_builder(model, wavelet, options, layer_kwargs)
    check_choice(pooling, "pooling", ("wavelet", "layer", "skip"))
    check_choice(floor_sizes, "floor_sizes", ("crop", "skip"))
    check_flags(fuse=fuse)
    find = partial(find_down, pooling=pooling, fuse=fuse, floor_sizes=floor_sizes)
    return rewrite("replace_downsampling", model, find, builder, options, shortcuts=shortcuts)
