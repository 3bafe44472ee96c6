"""``replace_upsampling`` and its site finder."""
from __future__ import annotations

from functools import partial
from typing import Any

from torch import nn

from .._deprecation import keyword_only_after
from ..layers import WeConv3D
from .contract import LayerFactory
from .down import NEW_POSITIONAL, OLD_POSITIONAL
from .engine import Patterns, Plan, Skip, check_choice, check_flags, make_options, rewrite
from .report import RewriteReport
from .rules import Keep, Swap, up_lone, up_pair, up_transposed
from .walk import Site

__all__ = ["replace_upsampling", "find_up"]


def find_up(parent: nn.Module, children: list[Site], *, interpolation: str = "skip", fuse: bool = True) -> list[Plan | Skip]:
    """The up-sampling sites among ``parent``'s ``children``: strided transposed convs, the pairs of
    :func:`~.rules.up_pair` (adjacent in an ``nn.Sequential``, when ``fuse``), lone ``Upsample``s."""
    items: list[Plan | Skip] = []
    pairs = fuse and isinstance(parent, nn.Sequential)
    i = 0
    while i < len(children):
        site = children[i]
        following = children[i + 1] if pairs and i + 1 < len(children) else None
        if isinstance(site.module, nn.ConvTranspose2d):
            verdict = up_transposed(site.module)
        else:
            verdict = up_pair(site.module, following.module) if following else None
            verdict = verdict or up_lone(site.module, interpolation)
        if isinstance(verdict, Keep):
            items.append(Skip(site, verdict.kind, verdict.reason))
        elif verdict is not None:
            items.append(Plan(site, verdict.kind, verdict, following if verdict.absorbs_next else None))
        i += 2 if isinstance(verdict, Swap) and verdict.absorbs_next else 1
    return items


@keyword_only_after(NEW_POSITIONAL, OLD_POSITIONAL, wavelet_slot=1)
def replace_upsampling(
    model: nn.Module,
    wavelet: str = "bior4.4",
    *,
    layer: LayerFactory = WeConv3D,
    mode: str | None = None,
    levels: int | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
    dry_run: bool = False,
    inplace: bool = False,
    upsample: str = "subpixel",
    interpolation: str = "skip",
    fuse: bool = True,
    copy_weights: bool = True,
    example_input: Any = None,
    **layer_kwargs: Any,
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
    opts = make_options(model, layer, wavelet, mode, levels, layer_kwargs, upsample)
    check_choice(interpolation, "interpolation", ("skip", "wavelet", "layer"))
    check_flags(fuse=fuse)
    find = partial(find_up, interpolation=interpolation, fuse=fuse)
    return rewrite("replace_upsampling", model, find, opts, include=include, exclude=exclude, dry_run=dry_run,
                   inplace=inplace, copy_weights=copy_weights, example_input=example_input)
