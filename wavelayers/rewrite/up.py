"""``replace_upsampling`` and its site finder."""
from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn

from .engine import Plan, Skip, check_choice, check_flags, make_builder, plan_siblings, rewrite
from .options import RewriteOptions, rewriter
from .report import RewriteReport
from .rules import Verdict, up_lone, up_pair, up_transposed
from .walk import Site

__all__ = ["replace_upsampling", "find_up", "judge_up"]


def judge_up(module: nn.Module, following: nn.Module | None, *, interpolation: str = "skip") -> Verdict:
    """The verdict for one child: a strided transposed conv, an :func:`~.rules.up_pair` with
    ``following`` (the next sibling in an ``nn.Sequential`` when fusing; else None), or a lone
    ``PixelShuffle`` / ``Upsample``."""
    if isinstance(module, nn.ConvTranspose2d):
        return up_transposed(module)
    verdict = up_pair(module, following) if following is not None else None
    return verdict or up_lone(module, interpolation)


def find_up(
    parent: nn.Module, children: list[Site], *, interpolation: str = "skip", fuse: bool = True
) -> list[Plan | Skip]:
    """The up-sampling sites among ``parent``'s ``children``."""
    judge = partial(judge_up, interpolation=interpolation)
    return plan_siblings(children, judge, adjacent=fuse and isinstance(parent, nn.Sequential))


@rewriter
def replace_upsampling(
    model: nn.Module, wavelet: str, options: RewriteOptions, *, upsample: str = "subpixel", interpolation: str = "skip",
    fuse: bool = True, **layer_kwargs: Any,
) -> tuple[nn.Module, RewriteReport]:
    """Replace the 2x up-sampling modules of ``model`` by wavelet layers (``layer(in, out,
    upsample=upsample, kernel_size=k, ...)``, output ``2H x 2W``); return ``(model, report)``.

    Sites: ``ConvTranspose2d`` with stride 2 whose output is exactly ``2H`` (kernel 3 / padding 1 /
    output_padding 1, kernel 4 / padding 1, kernel 2 / padding 0, ...; the head kernel becomes the
    odd size covering one output phase: 2 -> 1, 3 and 4 -> 3, 5 -> 5); in an ``nn.Sequential``
    (``fuse=True``) ``Conv2d -> PixelShuffle(2)``, ``Conv2d -> Upsample(x2)`` and
    ``Upsample(x2) -> Conv2d`` (the second module's slot becomes ``nn.Identity``); lone
    ``nn.Upsample(scale_factor=2)`` per ``interpolation``: 'skip' (default: reported only),
    'wavelet' (``WaveletUpsample``, no parameters) or 'layer' (channels from ``example_input``).

    ``upsample``: the layers' up-sampling head, 'subpixel' (conv then ``PixelShuffle(2)``) or
    'transposed' (``ConvTranspose2d``). The other arguments are those of
    :func:`replace_downsampling` (``layer`` came second by position before 0.2). A ``Conv2d ->
    PixelShuffle`` head keeps its conv weights exactly (``WeConv3D``'s sub-pixel head has the same shape).
    """
    check_choice(upsample, "upsample", ("subpixel", "transposed"))
    builder = make_builder(model, wavelet, options, layer_kwargs, upsample)
    check_choice(interpolation, "interpolation", ("skip", "wavelet", "layer"))
    check_flags(fuse=fuse)
    find = partial(find_up, interpolation=interpolation, fuse=fuse)
    return rewrite("replace_upsampling", model, find, builder, options)
