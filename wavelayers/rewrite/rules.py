"""Site rules: pure functions that read modules and say whether (and by what) a site is replaced.

Size rules work on one axis: a stride-2 window of kernel ``k`` and padding ``p`` maps ``H`` to
``floor((H + 2p - k) / 2) + 1`` (pools with ``ceil_mode``: see :func:`window_out`), which is
``ceil(H/2)`` for every ``H`` when ``2p - k == -1`` and ``floor(H/2)`` when ``2p - k == -2``;
a stride-2 transposed conv maps ``H`` to ``2H + (k - 2p + output_padding - 2)``. Site rules
return a :class:`Swap` (what goes there), a :class:`Keep` (a candidate left alone, with the
reason) or ``None`` (not a candidate). Nothing here builds or changes a module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

__all__ = [
    "NewLayer", "Resampler", "Swap", "Keep", "Verdict", "pair", "window_out", "halving", "size_rule", "conv_padding",
    "is_lazy", "group_problem", "strided_problem", "plain_conv", "doubling", "up_growth", "up_kernel", "is_shortcut",
    "down_conv", "down_pool", "up_transposed", "up_pair", "up_lone",
]


@dataclass(frozen=True)
class NewLayer:
    """``layer(in_channels, out_channels, kernel_size=kernel_size, ...)`` (the rewriter adds
    ``stride=2`` or ``upsample=``); channel counts ``None``: the site's input channel count, read
    by the probe forward."""

    in_channels: int | None
    out_channels: int | None
    kernel_size: int
    floor: bool = False  # wrap in FloorDownsample (the site gives floor(H/2))


@dataclass(frozen=True)
class Resampler:
    """A parameter-free ``WaveletDownsample`` (``up=False``) or ``WaveletUpsample``."""

    up: bool
    floor: bool = False


@dataclass(frozen=True)
class Swap:
    """Replace the site by ``new``; ``absorbs_next``: the next sibling's slot becomes ``nn.Identity``;
    ``seed``: the conv whose weights may seed the new layer's head."""

    kind: str
    new: NewLayer | Resampler
    absorbs_next: bool = False
    seed: nn.Module | None = None


@dataclass(frozen=True)
class Keep:
    """A candidate site left as it is."""

    kind: str
    reason: str


Verdict = Swap | Keep | None

_BASES = (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d)
_BRANCH_NAMES = ("downsample", "shortcut")


# ---------------------------------------------------------------------------------- size rules


def pair(v: Any) -> tuple[int, int]:
    """``v`` as a pair: ``3 -> (3, 3)``, ``(3, 5) -> (3, 5)``."""
    return (v[0], v[1]) if isinstance(v, (tuple, list)) else (v, v)


def window_out(h: int, kernel: int, padding: int, ceil_mode: bool = False) -> int:
    """Output length of a stride-2 window of ``kernel`` and ``padding`` over ``h`` inputs, with the
    pools' ``ceil_mode`` rule (the last window must start inside the input or its left padding)."""
    out = (h + 2 * padding - kernel + (1 if ceil_mode else 0)) // 2 + 1
    if ceil_mode and 2 * (out - 1) >= h + padding:
        out -= 1
    return out


def halving(kernel: int, padding: int, ceil_mode: bool = False) -> str | None:
    """'ceil' / 'floor' when a stride-2 window of ``kernel`` with ``padding`` maps ``H`` to
    ``ceil(H/2)`` / ``floor(H/2)`` for every ``H``; else None. ``window_out(H) - H // 2`` depends
    only on the parity of ``H``, so one even and one odd length decide."""
    h = 2 * (kernel + padding + 1)  # every window fits
    got = (window_out(h, kernel, padding, ceil_mode), window_out(h + 1, kernel, padding, ceil_mode))
    return {(h // 2, h // 2 + 1): "ceil", (h // 2, h // 2): "floor"}.get(got)


def size_rule(kernel: tuple[int, int], padding: tuple[int, int] | None, ceil_mode: bool = False) -> str | None:
    """:func:`halving` of both axes when they agree; None when they differ or padding is unknown."""
    if padding is None:
        return None
    rules = {halving(k, p, ceil_mode) for k, p in zip(kernel, padding)}
    return rules.pop() if len(rules) == 1 else None


def conv_padding(conv: nn.Conv2d) -> tuple[int, int] | None:
    """Numeric padding of ``conv``: 'valid' is 0; None for 'same' (its size rule is not a halving)."""
    if conv.padding == "valid":
        return (0, 0)
    if isinstance(conv.padding, str):
        return None
    return pair(conv.padding)


def up_growth(kernel: int, padding: int, output_padding: int) -> int:
    """How far a stride-2 transposed conv's output is from ``2H`` (``0``: exactly ``2H``)."""
    return kernel - 2 * padding + output_padding - 2


def up_kernel(kernel: int) -> int:
    """Odd kernel of the low-resolution head that covers a stride-2 transposed conv of ``kernel``
    (each output phase reads ``ceil(kernel/2)`` inputs): 2 -> 1, 3 and 4 -> 3, 5 -> 5."""
    return 2 * ((kernel + 1) // 2) - 1


# ---------------------------------------------------------------------------- module predicates


def is_lazy(module: nn.Module) -> bool:
    """A lazy module whose parameters are not shaped yet."""
    return isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params()


def group_problem(conv: nn.Conv2d | nn.ConvTranspose2d) -> str | None:
    """Why a grouped / depthwise conv cannot become a wavelet layer (None: ungrouped)."""
    if conv.groups == 1:
        return None
    if conv.groups == conv.in_channels:
        return f"depthwise conv (groups={conv.groups}): a wavelet layer mixes channels"
    return f"grouped conv (groups={conv.groups}): a wavelet layer mixes all channels"


def strided_problem(module: nn.Module, stride: tuple[int, int], dilation: tuple[int, int]) -> str | None:
    """Why a conv / pool with ``stride`` and ``dilation`` is no 2x site (None: it may be one)."""
    if is_lazy(module):
        return "lazy module with uninitialised parameters (run one forward first)"
    base = next(b for b in _BASES if isinstance(module, b))
    if type(module).forward is not base.forward:
        return f"{base.__name__} subclass with its own forward (e.g. dynamic 'same' padding): sizes unknown"
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        problem = group_problem(module)
        if problem:
            return problem
    if dilation != (1, 1):
        return f"dilation {dilation}: a wavelet layer has no dilated form"
    if stride != (2, 2):
        return f"stride {stride} is not 2"
    return None


def plain_conv(module: nn.Module) -> bool:
    """A stride-1, ungrouped, undilated square-odd-kernel ``nn.Conv2d`` with 'same' padding."""
    if type(module) is not nn.Conv2d or is_lazy(module):
        return False
    k = module.kernel_size
    same = module.padding == "same" or conv_padding(module) == (k[0] // 2, k[1] // 2)
    return (
        module.stride == (1, 1) and module.groups == 1 and module.dilation == (1, 1)
        and k[0] == k[1] and k[0] % 2 == 1 and same
    )


def doubling(module: nn.Upsample) -> bool:
    """An ``nn.Upsample`` with a fixed ``scale_factor`` of 2 on both axes."""
    if module.size is not None or module.scale_factor is None:
        return False
    sf = module.scale_factor if isinstance(module.scale_factor, tuple) else (module.scale_factor,) * 2
    return len(sf) == 2 and all(float(s) == 2.0 for s in sf)


def is_shortcut(model: nn.Module, path: str) -> bool:
    """Whether ``path`` lies in a residual branch: a component named ``shortcut``, or one named
    ``downsample`` whose holder also has a conv child of its own (torchvision / timm / mmseg blocks;
    not ConvNeXt's stage-level ``downsample``, whose stage holds no conv directly)."""
    holder = model
    for name in path.split("."):
        if name in _BRANCH_NAMES:
            if name == "shortcut" or any(
                isinstance(m, nn.Conv2d) for n, m in holder.named_children() if n not in _BRANCH_NAMES
            ):
                return True
        holder = holder._modules[name]
    return False


# -------------------------------------------------------------------------- down-sampling sites


def _size_problem(rule: str | None, what: str, floor_sizes: str) -> str | None:
    if rule is None:
        return f"{what} gives neither ceil(H/2) nor floor(H/2) for every H"
    if rule == "floor" and floor_sizes == "skip":
        return "gives floor(H/2), not ceil(H/2) (floor_sizes='skip')"
    return None


def down_conv(conv: nn.Conv2d, floor_sizes: str = "crop") -> Verdict:
    """A strided ``nn.Conv2d``: ``layer(in, out, kernel_size=k)`` (even ``k``: the next odd one)."""
    if conv.stride == (1, 1):
        return None
    k = conv.kernel_size
    problem = strided_problem(conv, conv.stride, conv.dilation)
    if problem is None and k[0] != k[1]:
        problem = f"non-square kernel {k}"
    rule = size_rule(k, conv_padding(conv))
    problem = problem or _size_problem(rule, f"kernel {k} with padding {conv.padding}", floor_sizes)
    if problem:
        return Keep("conv", problem)
    kernel = k[0] if k[0] % 2 else k[0] + 1
    return Swap("conv", NewLayer(conv.in_channels, conv.out_channels, kernel, floor=rule == "floor"), seed=conv)


def down_pool(
    pool: nn.MaxPool2d | nn.AvgPool2d,
    following: nn.Module | None = None,
    *,
    pooling: str = "wavelet",
    fuse: bool = True,
    floor_sizes: str = "crop",
) -> Verdict:
    """A strided pool: fused with ``following`` (a plain conv right after it in an ``nn.Sequential``;
    ``None`` otherwise) into ``layer(in, out, kernel_size=k)``, else per ``pooling``."""
    k = pair(pool.kernel_size)
    s = pair(pool.stride if pool.stride is not None else pool.kernel_size)
    if s == (1, 1):
        return None
    problem = strided_problem(pool, s, pair(getattr(pool, "dilation", 1)))
    if problem is None and getattr(pool, "return_indices", False):
        problem = "returns indices (for a MaxUnpool2d)"
    rule = size_rule(k, pair(pool.padding), pool.ceil_mode)
    what = f"kernel {k} with padding {pool.padding}, ceil_mode={pool.ceil_mode}"
    problem = problem or _size_problem(rule, what, floor_sizes)
    if problem:
        return Keep("pool", problem)
    if pooling == "skip":
        return Keep("pool", "pooling='skip' (pooling='wavelet' would give a WaveletDownsample)")
    floor = rule == "floor"
    if fuse and following is not None and plain_conv(following):
        new = NewLayer(following.in_channels, following.out_channels, following.kernel_size[0], floor=floor)
        return Swap("pool+conv", new, absorbs_next=True, seed=following)
    if pooling == "layer":
        return Swap("pool", NewLayer(None, None, 3, floor=floor))
    return Swap("pool", Resampler(up=False, floor=floor))


# ---------------------------------------------------------------------------- up-sampling sites


def up_transposed(conv: nn.ConvTranspose2d) -> Verdict:
    """A strided ``nn.ConvTranspose2d`` whose output is exactly ``2H``: an up-sampling layer with
    the head kernel :func:`up_kernel`."""
    if conv.stride == (1, 1):
        return None
    k, p, op = conv.kernel_size, pair(conv.padding), conv.output_padding
    problem = strided_problem(conv, conv.stride, conv.dilation)
    if problem is None and k[0] != k[1]:
        problem = f"non-square kernel {k}"
    if problem is None:
        growth = {up_growth(*axis) for axis in zip(k, p, op)}
        if growth != {0}:
            problem = f"kernel {k}, padding {p}, output_padding {op} give 2H{max(growth, key=abs):+d}, not 2H"
    if problem:
        return Keep("transposed conv", problem)
    return Swap("transposed conv", NewLayer(conv.in_channels, conv.out_channels, up_kernel(k[0])), seed=conv)


def up_pair(first: nn.Module, second: nn.Module) -> Swap | None:
    """Two adjacent modules of an ``nn.Sequential`` that up-sample together: ``Conv2d ->
    PixelShuffle(2)``, ``Conv2d -> Upsample(x2)`` or ``Upsample(x2) -> Conv2d`` (plain convs)."""
    if plain_conv(first) and isinstance(second, nn.PixelShuffle) and second.upscale_factor == 2 \
            and first.out_channels % 4 == 0:
        new = NewLayer(first.in_channels, first.out_channels // 4, first.kernel_size[0])
        return Swap("conv+pixel shuffle", new, absorbs_next=True, seed=first)
    if plain_conv(first) and isinstance(second, nn.Upsample) and doubling(second):
        new = NewLayer(first.in_channels, first.out_channels, first.kernel_size[0])
        return Swap("conv+upsample", new, absorbs_next=True)
    if isinstance(first, nn.Upsample) and doubling(first) and plain_conv(second):
        new = NewLayer(second.in_channels, second.out_channels, second.kernel_size[0])
        return Swap("upsample+conv", new, absorbs_next=True)
    return None


def up_lone(module: nn.Module, interpolation: str = "skip") -> Verdict:
    """A ``PixelShuffle`` or ``Upsample`` that is not part of an :func:`up_pair`."""
    if isinstance(module, nn.PixelShuffle):
        if module.upscale_factor != 2:
            return Keep("pixel shuffle", f"upscale factor {module.upscale_factor}, not 2")
        return Keep("pixel shuffle", "not right after a stride-1 conv (k odd, padding k//2, out % 4 == 0) "
                    "in an nn.Sequential")
    if not isinstance(module, nn.Upsample):
        return None
    if not doubling(module):
        return Keep("upsample", f"size={module.size}, scale_factor={module.scale_factor}: not a fixed 2x")
    if interpolation == "skip":
        return Keep("upsample", "parameter-free, kept (interpolation='wavelet': WaveletUpsample; "
                    "'layer' with example_input: a learned 2x layer)")
    if interpolation == "layer":
        return Swap("upsample", NewLayer(None, None, 3))
    return Swap("upsample", Resampler(up=True))
