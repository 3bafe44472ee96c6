"""Model surgery: swap the down-/up-sampling modules of any ``nn.Module`` tree for wavelet layers.

``replace_downsampling(model)`` finds, anywhere in the tree:

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
in an ``nn.Sequential`` (timm           slot, ``nn.Identity`` in the conv's (``fuse_pool_conv``)
``avg_down``, MIRNet's ``Down``)
======================================  ===========================================================

``replace_upsampling(model)`` does the same for ``ConvTranspose2d`` stride 2 with output ``2H``,
``Conv2d -> PixelShuffle(2)`` heads, ``Conv2d -> Upsample(x2)`` / ``Upsample(x2) -> Conv2d``
pairs (all become ``layer(in, out, stride=2, transposed=True, kernel_size=k)``), and lone
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
"""
from __future__ import annotations

import copy
import fnmatch
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from .layers import WeConv3D
from .operators import check_mode
from .resample import FloorDownsample, WaveletDownsample, WaveletUpsample
from .wavelets import canonical_name

__all__ = ["replace_downsampling", "replace_upsampling", "RewriteReport", "Replacement", "SkippedSite"]

LayerFactory = Callable[..., nn.Module]
Patterns = str | Iterable[str] | None


# --------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Replacement:
    """One replaced site: ``path`` now holds ``new`` instead of ``old`` (one-line descriptions)."""

    path: str
    kind: str
    old: str
    new: str
    params_old: int
    params_new: int
    notes: tuple[str, ...] = ()

    @property
    def param_delta(self) -> int:
        return self.params_new - self.params_old


@dataclass(frozen=True)
class SkippedSite:
    """A candidate that was left as it is, and why."""

    path: str
    kind: str
    module: str
    reason: str


@dataclass
class RewriteReport:
    """What a rewriter replaced (or, with ``dry_run``, would replace) and what it skipped."""

    operation: str
    dry_run: bool
    params_before: int
    params_after: int
    replaced: list[Replacement] = field(default_factory=list)
    skipped: list[SkippedSite] = field(default_factory=list)

    @property
    def param_delta(self) -> int:
        return self.params_after - self.params_before

    @property
    def paths(self) -> list[str]:
        """Paths of the replaced sites, in module order."""
        return [r.path for r in self.replaced]

    def __str__(self) -> str:
        verb = "would replace" if self.dry_run else "replaced"
        lines = [
            f"{self.operation}{' (dry run)' if self.dry_run else ''}: {verb} {len(self.replaced)}, "
            f"skipped {len(self.skipped)}; parameters {self.params_before:,} -> {self.params_after:,} "
            f"({self.param_delta:+,})"
        ]
        if self.replaced:
            rows = [(r.path, r.kind, r.old, r.new, f"{r.param_delta:+,}", "; ".join(r.notes)) for r in self.replaced]
            lines += ["", *_table(("path", "kind", "old", "new", "params", "notes"), rows, right={4})]
        if self.skipped:
            rows = [(s.path, s.kind, s.module, s.reason) for s in self.skipped]
            lines += ["", "skipped:", *_table(("path", "kind", "module", "reason"), rows)]
        return "\n".join(lines)


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int] = frozenset()) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells: tuple[str, ...]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  " + "  ".join(out).rstrip()

    return [fmt(headers), "  " + "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def describe(module: nn.Module) -> str:
    """A one-line description of ``module`` for the report."""
    if isinstance(module, FloorDownsample):
        return f"FloorDownsample({describe(module.layer)})"
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        k, s, p = module.kernel_size, module.stride, module.padding
        parts = [f"{module.in_channels}->{module.out_channels}", f"k{_fmt2(k)}", f"s{_fmt2(s)}", f"p{_fmt2(p)}"]
        if isinstance(module, nn.ConvTranspose2d) and module.output_padding != (0, 0):
            parts.append(f"op{_fmt2(module.output_padding)}")
        if module.dilation != (1, 1):
            parts.append(f"d{_fmt2(module.dilation)}")
        if module.groups != 1:
            parts.append(f"g{module.groups}")
        return f"{type(module).__name__}({', '.join(parts)})"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = (_pair(v) for v in (module.kernel_size, module.stride or module.kernel_size, module.padding))
        ceil = ", ceil" if module.ceil_mode else ""
        return f"{type(module).__name__}(k{_fmt2(k)}, s{_fmt2(s)}, p{_fmt2(p)}{ceil})"
    if isinstance(module, WeConv3D):
        head = module.head[0] if isinstance(module.head, nn.Sequential) else module.head
        how = "up2" if module.transposed else f"s{module.stride}"
        return (
            f"{type(module).__name__}({module.in_channels}->{module.out_channels}, k{_fmt2(head.kernel_size)}, {how}, "
            f"{module.wavelet}, levels={module.levels}, ch_levels={module.channel_levels})"
        )
    if isinstance(module, (WaveletDownsample, WaveletUpsample)):
        channels = f", C={module.channels}" if module.channels is not None else ""
        return f"{type(module).__name__}({module.wavelet}{channels})"
    extra = " ".join(module.extra_repr().split())
    return f"{type(module).__name__}({extra})"


def _fmt2(v: tuple[int, ...] | str) -> str:
    if isinstance(v, str):
        return v
    return str(v[0]) if len(set(v)) == 1 else "x".join(str(x) for x in v)


def _pair(v: Any) -> tuple[int, int]:
    return (v[0], v[1]) if isinstance(v, (tuple, list)) else (v, v)


def _count(*modules: nn.Module | None) -> int:
    return sum(p.numel() for m in modules if m is not None for p in m.parameters())


# ------------------------------------------------------------------------------------- tree walking


@dataclass
class _Site:
    path: str
    module: nn.Module
    slots: list[tuple[nn.Module, str]]  # every (parent, attribute) holding this module


@dataclass
class _Plan:
    site: _Site
    kind: str
    build: Callable[[dict[str, int]], nn.Module]  # probed channels -> new module
    absorbed: _Site | None = None  # the sibling the new module takes over (becomes nn.Identity)
    weight_source: nn.Module | None = None  # conv whose weights can seed the new layer's head
    needs_channels: bool = False


@dataclass
class _Skip:
    site: _Site
    kind: str
    reason: str


def _is_own(module: nn.Module) -> bool:
    return type(module).__module__.startswith("wavelayers.")


def _walk(model: nn.Module) -> list[tuple[nn.Module, list[_Site]]]:
    """``(parent, children)`` for every container outside ``wavelayers`` modules, breadth first,
    children in registration order; a module held at several places is one site with several slots."""
    sites: dict[int, _Site] = {}
    out: list[tuple[nn.Module, list[_Site]]] = []
    queue: deque[tuple[str, nn.Module]] = deque([("", model)])
    while queue:
        prefix, parent = queue.popleft()
        if _is_own(parent):
            continue
        children = []
        for name, child in parent._modules.items():
            if child is None:
                continue
            site = sites.get(id(child))
            if site is None:
                site = sites[id(child)] = _Site(f"{prefix}{name}", child, [])
                queue.append((f"{prefix}{name}.", child))
                children.append(site)
            site.slots.append((parent, name))
        out.append((parent, children))
    return out


_BRANCH_NAMES = ("downsample", "shortcut")


def _is_shortcut(model: nn.Module, path: str) -> bool:
    """Whether ``path`` lies in a residual branch: a component named ``shortcut``, or one named
    ``downsample`` whose holder also has a conv child of its own (torchvision / timm / mmseg blocks;
    not ConvNeXt's stage-level ``downsample``, whose stage holds no conv directly)."""
    parts = path.split(".")
    holder = model
    for name in parts:
        if name in _BRANCH_NAMES:
            if name == "shortcut" or any(
                isinstance(m, nn.Conv2d) for n, m in holder.named_children() if n not in _BRANCH_NAMES
            ):
                return True
        holder = holder._modules[name]
    return False


# ------------------------------------------------------------------------------------ site checks


def _halving(kernel: int, padding: int, ceil_mode: bool = False) -> str | None:
    """'ceil' / 'floor' when a stride-2 window of ``kernel`` with ``padding`` maps ``H`` to
    ``ceil(H/2)`` / ``floor(H/2)`` for every ``H``; else None."""
    e = 2 * padding - kernel + (1 if ceil_mode else 0)
    return {-1: "ceil", -2: "floor"}.get(e)


def _lazy(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params()


def _conv_padding(conv: nn.Conv2d) -> tuple[int, int] | None:
    if conv.padding == "valid":
        return (0, 0)
    if isinstance(conv.padding, str):
        return None
    return _pair(conv.padding)


def _group_problem(conv: nn.Module) -> str | None:
    if conv.groups == 1:
        return None
    if conv.groups == conv.in_channels:
        return f"depthwise conv (groups={conv.groups}): a wavelet layer mixes channels"
    return f"grouped conv (groups={conv.groups}): a wavelet layer mixes all channels"


_BASES = (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d)


def _strided_problem(module: nn.Module, stride: tuple[int, int], dilation: tuple[int, int]) -> str | None:
    if _lazy(module):
        return "lazy module with uninitialised parameters (run one forward first)"
    base = next(b for b in _BASES if isinstance(module, b))
    if type(module).forward is not base.forward:
        return f"{base.__name__} subclass with its own forward (e.g. dynamic 'same' padding): sizes unknown"
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        problem = _group_problem(module)
        if problem:
            return problem
    if dilation != (1, 1):
        return f"dilation {dilation}: a wavelet layer has no dilated form"
    if stride != (2, 2):
        return f"stride {stride} is not 2"
    return None


def _size_rule(kernel: tuple[int, int], padding: tuple[int, int] | None, ceil_mode: bool) -> str | None:
    if padding is None:
        return None
    rules = {_halving(k, p, ceil_mode) for k, p in zip(kernel, padding)}
    return rules.pop() if len(rules) == 1 else None


def _plain_conv(module: nn.Module) -> bool:
    """A stride-1, ungrouped, undilated square-odd-kernel Conv2d with 'same' padding."""
    if type(module) is not nn.Conv2d or _lazy(module):
        return False
    k = module.kernel_size
    same = module.padding == "same" or _conv_padding(module) == (k[0] // 2, k[1] // 2)
    return (
        module.stride == (1, 1) and module.groups == 1 and module.dilation == (1, 1)
        and k[0] == k[1] and k[0] % 2 == 1 and same
    )


def _doubling(module: nn.Module) -> bool:
    if module.size is not None or module.scale_factor is None:
        return False
    sf = module.scale_factor if isinstance(module.scale_factor, tuple) else (module.scale_factor,) * 2
    return len(sf) == 2 and all(float(s) == 2.0 for s in sf)


def _up_kernel(k: int) -> int:
    """Odd kernel of the low-resolution head that covers a stride-2 transposed conv of kernel ``k``
    (each output phase reads ``ceil(k/2)`` inputs)."""
    return 2 * ((k + 1) // 2) - 1


# -------------------------------------------------------------------------------------- the engine

Finder = Callable[[nn.Module, list[_Site]], list["_Plan | _Skip"]]


@dataclass
class _Options:
    layer: LayerFactory
    wavelet: str
    mode: str
    levels: int | None
    layer_kwargs: dict[str, Any]

    def build(self, cin: int, cout: int, kernel_size: int, transposed: bool = False) -> nn.Module:
        kwargs = dict(stride=2, kernel_size=kernel_size, wavelet=self.wavelet, **self.layer_kwargs)
        if transposed:
            kwargs["transposed"] = True
        if self.levels is not None:
            kwargs["levels"] = self.levels
        return self.layer(cin, cout, **kwargs)


def _as_patterns(patterns: Patterns, name: str) -> tuple[str, ...] | None:
    if patterns is None:
        return None
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"{name} must be a glob pattern or a list of glob patterns (str), got {patterns!r}")
    return patterns


def _filter_reason(path: str, include: tuple[str, ...] | None, exclude: tuple[str, ...] | None) -> str | None:
    if include is not None and not any(fnmatch.fnmatchcase(path, p) for p in include):
        return f"not matched by include={list(include)}"
    for p in exclude or ():
        if fnmatch.fnmatchcase(path, p):
            return f"excluded by pattern {p!r}"
    return None


def _check_flags(**flags: object) -> None:
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _options(model: nn.Module, layer: LayerFactory, wavelet: str, levels: int | None, layer_kwargs: dict) -> _Options:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not callable(layer):
        raise TypeError(f"layer must be an nn.Module class or a callable returning one, got {layer!r}")
    if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int) or levels < 1):
        raise ValueError(f"levels must be None or an integer >= 1, got {levels!r}")
    reserved = sorted({"stride", "kernel_size", "transposed", "in_channels", "out_channels"} & set(layer_kwargs))
    if reserved:
        raise TypeError(f"{reserved} are set per site by the rewriter; pass only other layer arguments")
    mode = layer_kwargs.get("mode", "jpeg2000")
    name = canonical_name(wavelet)
    check_mode(mode, name)
    return _Options(layer, name, mode, levels, dict(layer_kwargs))


def _probe_channels(model: nn.Module, sites: list[_Site], example_input: Any) -> dict[str, int]:
    """Input channel count of each site in one eval-mode, no-grad forward of ``example_input``."""
    seen: dict[str, set[int]] = {s.path: set() for s in sites}

    def record(path: str, _module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor) and args[0].dim() >= 2:
            seen[path].add(int(args[0].shape[1]))

    handles = [s.module.register_forward_pre_hook(partial(record, s.path)) for s in sites]
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            model(*example_input) if isinstance(example_input, tuple) else model(example_input)
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags:
            m.training = flag
    return {path: next(iter(c)) for path, c in seen.items() if len(c) == 1}


def _seed_head(new: nn.Module, source: nn.Module) -> bool:
    """Copy ``source``'s weight (and bias, or zeros) into ``new``'s head conv when the shapes match."""
    target = new.layer if isinstance(new, FloorDownsample) else new
    head = getattr(target, "head", None)
    if isinstance(head, nn.Sequential) and len(head) > 0:
        head = head[0]
    if not isinstance(head, nn.Module) or type(head) is not type(source):
        return False
    if getattr(head, "weight", None) is None or head.weight.shape != source.weight.shape:
        return False
    with torch.no_grad():
        head.weight.copy_(source.weight)
        if head.bias is not None:
            head.bias.copy_(source.bias) if source.bias is not None else head.bias.zero_()
    return True


def _reference_tensor(*modules: nn.Module | None) -> torch.Tensor | None:
    for m in modules:
        for t in (*m.parameters(), *m.buffers()) if m is not None else ():
            if t.is_floating_point():
                return t
    return None


def _install(plan: _Plan, new: nn.Module) -> None:
    for parent, name in plan.site.slots:
        setattr(parent, name, new)
    if plan.absorbed is not None:
        for parent, name in plan.absorbed.slots:
            setattr(parent, name, nn.Identity())


def _replacement(plan: _Plan, new: nn.Module, work: nn.Module, copy_weights: bool) -> Replacement:
    """Put ``new`` on the device/dtype/mode of the old module, seed it, and describe the swap."""
    old, absorbed = plan.site.module, plan.absorbed.module if plan.absorbed else None
    ref = _reference_tensor(old, absorbed, work)
    if ref is not None:
        new.to(device=ref.device, dtype=ref.dtype)
    new.train(old.training)
    notes = []
    if copy_weights and plan.weight_source is not None and _seed_head(new, plan.weight_source):
        notes.append("head seeded from old weights")
    old_params = [p for m in (old, absorbed) if m is not None for p in m.parameters()]
    if old_params and not any(p.requires_grad for p in old_params):
        new.requires_grad_(False)
        notes.append("frozen, as the old module was")
    if isinstance(new, FloorDownsample):
        notes.append("floor(H/2) site: odd inputs lose their last row/column")
    if absorbed is not None:
        notes.append(f"{plan.absorbed.path} -> Identity")
    if len(plan.site.slots) > 1:
        notes.append(f"shared module: replaced at all {len(plan.site.slots)} places")
    old_text = describe(old) if absorbed is None else f"{describe(old)} + {describe(absorbed)}"
    return Replacement(plan.site.path, plan.kind, old_text, describe(new), _count(old, absorbed), _count(new), tuple(notes))


def _rewrite(
    operation: str,
    model: nn.Module,
    find: Finder,
    include: Patterns,
    exclude: Patterns,
    dry_run: bool,
    inplace: bool,
    copy_weights: bool,
    example_input: Any,
    shortcuts: bool = True,
) -> tuple[nn.Module, RewriteReport]:
    include_p, exclude_p = _as_patterns(include, "include"), _as_patterns(exclude, "exclude")
    _check_flags(dry_run=dry_run, inplace=inplace, copy_weights=copy_weights, shortcuts=shortcuts)
    work = model if (inplace or dry_run) else copy.deepcopy(model)
    params_before = _count(work)
    found = [item for parent, children in _walk(work) for item in find(parent, children)]
    order = {name: i for i, (name, _) in enumerate(work.named_modules(remove_duplicate=False))}
    for item in found:
        if _is_shortcut(work, item.site.path):
            item.kind = f"shortcut {item.kind}"

    plans: list[_Plan] = []
    skips: list[_Skip] = [item for item in found if isinstance(item, _Skip)]
    for plan in (item for item in found if isinstance(item, _Plan)):
        reason = _filter_reason(plan.site.path, include_p, exclude_p)
        if reason is None and not shortcuts and plan.kind.startswith("shortcut"):
            reason = "residual shortcut (shortcuts=False)"
        if reason:
            skips.append(_Skip(plan.site, plan.kind, reason))
        else:
            plans.append(plan)

    channels: dict[str, int] = {}
    if example_input is not None and plans:
        channels = _probe_channels(work, [p.site for p in plans], example_input)

    replaced: list[Replacement] = []
    for plan in plans:
        if plan.needs_channels and plan.site.path not in channels:
            why = ("pass example_input=... so that one probe forward reads it" if example_input is None
                   else "the probe forward did not reach it, or reached it with several channel counts")
            skips.append(_Skip(plan.site, plan.kind, f"input channel count unknown: {why}"))
            continue
        try:
            new = plan.build(channels)
        except ValueError as exc:  # e.g. a channel count the layer's channel DWT cannot split
            skips.append(_Skip(plan.site, plan.kind, f"layer refused: {exc}"))
            continue
        replaced.append(_replacement(plan, new, work, copy_weights))
        if not dry_run:
            _install(plan, new)

    params_after = params_before + sum(r.param_delta for r in replaced)
    replaced.sort(key=lambda r: order[r.path])
    skipped = [
        SkippedSite(s.site.path, s.kind, describe(s.site.module), s.reason)
        for s in sorted(skips, key=lambda s: order[s.site.path])
    ]
    return work, RewriteReport(operation, dry_run, params_before, params_after, replaced, skipped)


# ----------------------------------------------------------------------------------- downsampling


def _down_finder(opts: _Options, pooling: str, fuse_pool_conv: bool, floor_sizes: str) -> Finder:
    def size_problem(rule: str | None, what: str) -> str | None:
        if rule is None:
            return f"{what} gives neither ceil(H/2) nor floor(H/2) for every H"
        if rule == "floor" and floor_sizes == "skip":
            return "gives floor(H/2), not ceil(H/2) (floor_sizes='skip')"
        return None

    def layer_builder(rule: str, cin: int, cout: int, kernel: int) -> Callable[[dict[str, int]], nn.Module]:
        def build(_channels: dict[str, int]) -> nn.Module:
            new = opts.build(cin, cout, kernel)
            return FloorDownsample(new) if rule == "floor" else new
        return build

    def pool_builder(rule: str, path: str) -> Callable[[dict[str, int]], nn.Module]:
        def build(channels: dict[str, int]) -> nn.Module:
            if pooling == "wavelet":
                new = WaveletDownsample(channels.get(path), 2, opts.wavelet, opts.mode)
            else:
                new = opts.build(channels[path], channels[path], 3)
            return FloorDownsample(new) if rule == "floor" else new
        return build

    def conv_item(site: _Site) -> _Plan | _Skip | None:
        conv = site.module
        if conv.stride == (1, 1):
            return None
        k = conv.kernel_size
        problem = _strided_problem(conv, conv.stride, conv.dilation)
        if problem is None and k[0] != k[1]:
            problem = f"non-square kernel {k}"
        rule = _size_rule(k, _conv_padding(conv), False)
        problem = problem or size_problem(rule, f"kernel {k} with padding {conv.padding}")
        if problem:
            return _Skip(site, "conv", problem)
        kernel = k[0] if k[0] % 2 else k[0] + 1  # even kernels (floor sites): the next odd one
        return _Plan(site, "conv", layer_builder(rule, conv.in_channels, conv.out_channels, kernel), weight_source=conv)

    def pool_item(site: _Site, following: _Site | None, in_sequential: bool) -> _Plan | _Skip | None:
        pool = site.module
        k = _pair(pool.kernel_size)
        s = _pair(pool.stride if pool.stride is not None else pool.kernel_size)
        if s == (1, 1):
            return None
        problem = _strided_problem(pool, s, _pair(getattr(pool, "dilation", 1)))
        if problem is None and getattr(pool, "return_indices", False):
            problem = "returns indices (for a MaxUnpool2d)"
        rule = _size_rule(k, _pair(pool.padding), pool.ceil_mode)
        problem = problem or size_problem(rule, f"kernel {k} with padding {pool.padding}, ceil_mode={pool.ceil_mode}")
        if problem:
            return _Skip(site, "pool", problem)
        if pooling == "skip":
            return _Skip(site, "pool", "pooling='skip' (pooling='wavelet' would give a WaveletDownsample)")
        if fuse_pool_conv and in_sequential and following is not None and _plain_conv(following.module):
            conv = following.module
            build = layer_builder(rule, conv.in_channels, conv.out_channels, conv.kernel_size[0])
            return _Plan(site, "pool+conv", build, absorbed=following, weight_source=conv)
        return _Plan(site, "pool", pool_builder(rule, site.path), needs_channels=pooling == "layer")

    def find(parent: nn.Module, children: list[_Site]) -> list[_Plan | _Skip]:
        items: list[_Plan | _Skip] = []
        taken: _Site | None = None
        for i, site in enumerate(children):
            if site is taken:
                continue
            item = None
            if isinstance(site.module, nn.Conv2d):
                item = conv_item(site)
            elif isinstance(site.module, (nn.MaxPool2d, nn.AvgPool2d)):
                following = children[i + 1] if i + 1 < len(children) else None
                item = pool_item(site, following, isinstance(parent, nn.Sequential))
            if item is not None:
                items.append(item)
                taken = item.absorbed if isinstance(item, _Plan) else None
        return items

    return find


def replace_downsampling(
    model: nn.Module,
    layer: LayerFactory = WeConv3D,
    wavelet: str = "bior4.4",
    levels: int | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
    dry_run: bool = False,
    inplace: bool = False,
    *,
    pooling: str = "wavelet",
    shortcuts: bool = True,
    fuse_pool_conv: bool = True,
    floor_sizes: str = "crop",
    copy_weights: bool = True,
    example_input: Any = None,
    **layer_kwargs: Any,
) -> tuple[nn.Module, RewriteReport]:
    """Replace the 2x down-sampling modules of ``model`` by wavelet layers with the same channels
    and output shapes; return ``(model, report)``.

    Args:
        model: any ``nn.Module``.
        layer: class (or callable) built as ``layer(in, out, stride=2, kernel_size=k, wavelet=...,
            [levels=...], **layer_kwargs)``: ``WeConv3D`` (default), ``WeConv2D``, or your own.
        wavelet: wavelet of the new layers ('haar', 'bior2.2', 'bior4.4', any PyWavelets name).
        levels: spatial DWT levels passed to ``layer`` (``None``: the layer's default).
        include / exclude: glob patterns (``fnmatch``) on module paths such as ``'layer4.*'``; a
            site is replaced when it matches some ``include`` pattern (all, if ``None``) and no
            ``exclude`` pattern.
        dry_run: only report what would be replaced; ``model`` is returned unchanged.
        inplace: modify ``model`` itself; otherwise a deep copy is rewritten and ``model`` is untouched.
        pooling: lone strided pools -> 'wavelet' (``WaveletDownsample``, no parameters), 'layer'
            (``layer(C, C, kernel_size=3)``, ``C`` read by a probe forward of ``example_input``) or 'skip'.
        shortcuts: also replace the strided convs of residual ``downsample`` / ``shortcut`` branches.
        fuse_pool_conv: a strided pool followed by a stride-1 conv in an ``nn.Sequential`` becomes
            one ``layer(in, out, kernel_size=k)``; the conv's slot becomes ``nn.Identity``.
        floor_sizes: sites that give ``floor(H/2)``: 'crop' (``FloorDownsample`` wrapper) or 'skip'.
        copy_weights: seed the new layer's head conv with the old conv's weights where shapes match.
        example_input: a tensor (or a tuple of forward arguments) for the channel probe.
        **layer_kwargs: more ``layer`` arguments (``channel_levels``, ``norm``, ``mode``, ...).

    Returns:
        ``(model, report)``; ``print(report)`` shows the replaced and the skipped sites.

    Example::

        model, report = replace_downsampling(torchvision.models.resnet18(num_classes=100), wavelet="haar")
        print(report)
    """
    opts = _options(model, layer, wavelet, levels, layer_kwargs)
    _check_choice(pooling, "pooling", ("wavelet", "layer", "skip"))
    _check_choice(floor_sizes, "floor_sizes", ("crop", "skip"))
    _check_flags(fuse_pool_conv=fuse_pool_conv)
    find = _down_finder(opts, pooling, fuse_pool_conv, floor_sizes)
    return _rewrite("replace_downsampling", model, find, include, exclude, dry_run, inplace, copy_weights,
                    example_input, shortcuts)


# ------------------------------------------------------------------------------------- upsampling


def _up_finder(opts: _Options, interpolation: str, fuse: bool) -> Finder:
    def builder(cin: int, cout: int, kernel: int) -> Callable[[dict[str, int]], nn.Module]:
        return lambda _channels: opts.build(cin, cout, kernel, transposed=True)

    def interp_builder(path: str) -> Callable[[dict[str, int]], nn.Module]:
        def build(channels: dict[str, int]) -> nn.Module:
            if interpolation == "wavelet":
                return WaveletUpsample(channels.get(path), opts.wavelet, opts.mode)
            return opts.build(channels[path], channels[path], 3, transposed=True)
        return build

    def transposed_item(site: _Site) -> _Plan | _Skip | None:
        conv = site.module
        if conv.stride == (1, 1):
            return None
        k, p, op = conv.kernel_size, _pair(conv.padding), conv.output_padding
        problem = _strided_problem(conv, conv.stride, conv.dilation)
        if problem is None and k[0] != k[1]:
            problem = f"non-square kernel {k}"
        if problem is None:
            growth = {k_ - 2 * p_ + op_ - 2 for k_, p_, op_ in zip(k, p, op)}
            if growth != {0}:
                problem = f"kernel {k}, padding {p}, output_padding {op} give 2H{max(growth, key=abs):+d}, not 2H"
        if problem:
            return _Skip(site, "transposed conv", problem)
        build = builder(conv.in_channels, conv.out_channels, _up_kernel(k[0]))
        return _Plan(site, "transposed conv", build, weight_source=conv)

    def find(parent: nn.Module, children: list[_Site]) -> list[_Plan | _Skip]:
        items: list[_Plan | _Skip] = []
        seq = fuse and isinstance(parent, nn.Sequential)
        i = 0
        while i < len(children):
            site, m = children[i], children[i].module
            nxt = children[i + 1] if i + 1 < len(children) else None
            item: _Plan | _Skip | None = None
            if isinstance(m, nn.ConvTranspose2d):
                item = transposed_item(site)
            elif seq and nxt is not None and _plain_conv(m) and isinstance(nxt.module, nn.PixelShuffle) \
                    and nxt.module.upscale_factor == 2 and m.out_channels % 4 == 0:
                item = _Plan(site, "conv+pixel shuffle", builder(m.in_channels, m.out_channels // 4, m.kernel_size[0]),
                             absorbed=nxt, weight_source=m)
            elif seq and nxt is not None and _plain_conv(m) and isinstance(nxt.module, nn.Upsample) \
                    and _doubling(nxt.module):
                item = _Plan(site, "conv+upsample", builder(m.in_channels, m.out_channels, m.kernel_size[0]),
                             absorbed=nxt)
            elif seq and nxt is not None and isinstance(m, nn.Upsample) and _doubling(m) and _plain_conv(nxt.module):
                conv = nxt.module
                item = _Plan(site, "upsample+conv", builder(conv.in_channels, conv.out_channels, conv.kernel_size[0]),
                             absorbed=nxt)
            elif isinstance(m, nn.PixelShuffle):
                item = _Skip(site, "pixel shuffle", f"upscale factor {m.upscale_factor}, not 2" if m.upscale_factor != 2
                             else "not right after a stride-1 conv (k odd, padding k//2, out % 4 == 0) in an nn.Sequential")
            elif isinstance(m, nn.Upsample):
                if not _doubling(m):
                    item = _Skip(site, "upsample", f"size={m.size}, scale_factor={m.scale_factor}: not a fixed 2x")
                elif interpolation == "skip":
                    item = _Skip(site, "upsample", "parameter-free, kept (interpolation='wavelet': WaveletUpsample; "
                                 "'layer' with example_input: a learned 2x layer)")
                else:
                    item = _Plan(site, "upsample", interp_builder(site.path), needs_channels=interpolation == "layer")
            if item is not None:
                items.append(item)
            i += 2 if isinstance(item, _Plan) and item.absorbed is not None else 1
        return items

    return find


def replace_upsampling(
    model: nn.Module,
    layer: LayerFactory = WeConv3D,
    wavelet: str = "bior4.4",
    levels: int | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
    dry_run: bool = False,
    inplace: bool = False,
    *,
    interpolation: str = "skip",
    fuse: bool = True,
    copy_weights: bool = True,
    example_input: Any = None,
    **layer_kwargs: Any,
) -> tuple[nn.Module, RewriteReport]:
    """Replace the 2x up-sampling modules of ``model`` by wavelet layers (``layer(in, out, stride=2,
    transposed=True, kernel_size=k, ...)``, output ``2H x 2W``); return ``(model, report)``.

    Sites: ``ConvTranspose2d`` with stride 2 whose output is exactly ``2H`` (kernel 3 / padding 1 /
    output_padding 1, kernel 4 / padding 1, kernel 2 / padding 0, ...; the head kernel becomes the
    odd size covering one output phase: 2 -> 1, 3 and 4 -> 3, 5 -> 5); in an ``nn.Sequential``
    (``fuse=True``) ``Conv2d -> PixelShuffle(2)``, ``Conv2d -> Upsample(x2)`` and
    ``Upsample(x2) -> Conv2d`` (the second module's slot becomes ``nn.Identity``); lone
    ``nn.Upsample(scale_factor=2)`` per ``interpolation``: 'skip' (default: reported only),
    'wavelet' (``WaveletUpsample``, no parameters) or 'layer' (channels from ``example_input``).

    The other arguments are those of :func:`replace_downsampling`. A ``Conv2d -> PixelShuffle``
    head keeps its conv weights exactly (``WeConv3D``'s sub-pixel head has the same shape).
    """
    opts = _options(model, layer, wavelet, levels, layer_kwargs)
    _check_choice(interpolation, "interpolation", ("skip", "wavelet", "layer"))
    _check_flags(fuse=fuse)
    find = _up_finder(opts, interpolation, fuse)
    return _rewrite("replace_upsampling", model, find, include, exclude, dry_run, inplace, copy_weights,
                    example_input)
