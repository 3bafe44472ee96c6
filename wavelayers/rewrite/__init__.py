"""Model surgery: swap the down-/up-sampling modules of any ``nn.Module`` tree for wavelet layers.

``replace_downsampling(model, wavelet)`` finds, anywhere in the tree:

======================================  ===========================================================
site                                    becomes (``layer`` = ``WeConv3D`` unless given)
======================================  ===========================================================
``Conv2d`` stride 2 (incl. the 1x1      ``layer(in, out, stride=2, kernel_size=k)``; a following
stride-2 conv of a residual             norm / activation stays where it is
``downsample`` / ``shortcut`` branch)
``MaxPool2d`` / ``AvgPool2d`` stride 2  ``WaveletDownsample`` (``pooling='wavelet'``: fixed LL band,
                                        no parameters), or ``layer(C, C, stride=2, kernel_size=3)``
                                        (``pooling='layer'``)
pool, then a stride-1 conv, adjacent    ``layer(in, out, stride=2, kernel_size=k)`` in the pool's
in an ``nn.Sequential`` (timm           slot, ``nn.Identity`` in the conv's (``fuse``)
``avg_down``, MIRNet's ``Down``)
======================================  ===========================================================

``replace_upsampling(model)`` does the same for ``ConvTranspose2d`` stride 2 with output ``2H``,
``Conv2d -> PixelShuffle(2)`` heads, ``Conv2d -> Upsample(x2)`` / ``Upsample(x2) -> Conv2d``
pairs (all become ``layer(in, out, upsample=..., kernel_size=k)``), and lone
``nn.Upsample(scale_factor=2)`` modules (kept by default; ``interpolation='wavelet'`` or
``'layer'`` replaces them).

Output sizes: a wavelet layer halves ``H`` to ``ceil(H/2)``, as ``Conv2d(k, 2, k//2)`` (odd ``k``)
does. Sites that give ``floor(H/2)`` (kernel 2 / padding 0, kernel 4 / padding 1, ``MaxPool2d(2)``)
get the layer wrapped in :class:`~wavelayers.resample.FloorDownsample` (``floor_sizes='crop'``);
any other size rule is skipped, so every replaced site keeps its output shape for every input size.

Channel counts: convs carry them. A lone pool or ``Upsample`` does not: ``WaveletDownsample`` /
``WaveletUpsample`` need none, and ``pooling='layer'`` / ``interpolation='layer'`` read the count
from one probe forward of ``example_input`` (forward pre-hooks, ``eval`` mode, no grad, training
flags restored). Tracking the preceding module's ``out_channels`` was rejected: it is wrong
whenever a branch does not start from the previous module's output (e.g. a residual shortcut).

Modules defined in ``wavelayers`` are never entered (a ``WeConv3D`` holds strided convs itself).
Downsampling done by functional calls in ``forward`` (``F.max_pool2d``, ``F.interpolate``) is
invisible to any module rewriter.

What ``layer=`` must accept and may provide is :class:`LayerFactory` (see :mod:`.contract`).
Modules: ``rules`` (pure site and size rules), ``walk`` (the module tree), ``engine`` (filters,
probe, building, placing, seeding), ``options`` (the keyword arguments both rewriters share, and
their public signature), ``down`` / ``up`` (the two rewriters and their finders), ``report`` (the
returned tables), ``contract`` (the layer factory protocol).
"""
from __future__ import annotations

from .contract import Describes, LayerFactory, SeedableLayer
from .down import replace_downsampling
from .report import Replacement, RewriteReport, SkippedSite
from .up import replace_upsampling

__all__ = [
    "replace_downsampling", "replace_upsampling", "RewriteReport", "Replacement", "SkippedSite",
    "LayerFactory", "SeedableLayer", "Describes",
]
