"""The rewrite engine, shared by both rewriters: the layer call, include/exclude filters, the
channel probe, building and placing the new modules, freezing, weight seeding, and the report."""
from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from ..operators import check_mode
from ..resample import FloorDownsample, WaveletDownsample, WaveletUpsample
from ..wavelets import canonical_name
from .contract import PER_SITE, LayerFactory, factory_call_kwargs
from .options import RewriteOptions
from .report import Replacement, RewriteReport, SkippedSite, count_params, describe
from .rules import Keep, NewLayer, Resampler, Swap, Verdict, is_shortcut
from .walk import Site, walk

__all__ = [
    "Plan", "Skip", "Builder", "Finder", "Judge", "plan_siblings", "make_builder", "check_choice", "check_flags",
    "rewrite",
]

DEFAULT_MODE = "jpeg2000"


@dataclass
class Plan:
    """A site to replace: the rule's :class:`~.rules.Swap` plus the sibling it absorbs."""

    site: Site
    kind: str
    swap: Swap
    absorbed: Site | None = None

    @property
    def needs_channels(self) -> bool:
        """The new module's channel count comes from the probe forward."""
        return isinstance(self.swap.new, NewLayer) and self.swap.new.in_channels is None


@dataclass
class Skip:
    """A candidate site left alone, and why."""

    site: Site
    kind: str
    reason: str


Finder = Callable[[nn.Module, list[Site]], list[Plan | Skip]]
Judge = Callable[[nn.Module, nn.Module | None], Verdict]


def plan_siblings(children: list[Site], judge: Judge, adjacent: bool) -> list[Plan | Skip]:
    """``judge(module, following)`` for each child in order (``following``: the next sibling when
    ``adjacent``, else None); a :class:`~.rules.Swap` that absorbs the next sibling consumes it."""
    items: list[Plan | Skip] = []
    i = 0
    while i < len(children):
        site = children[i]
        following = children[i + 1] if adjacent and i + 1 < len(children) else None
        verdict = judge(site.module, following.module if following else None)
        if isinstance(verdict, Keep):
            items.append(Skip(site, verdict.kind, verdict.reason))
        elif verdict is not None:
            items.append(Plan(site, verdict.kind, verdict, following if verdict.absorbs_next else None))
        i += 2 if isinstance(verdict, Swap) and verdict.absorbs_next else 1
    return items


@dataclass
class Builder:
    """How new modules are built: ``layer(in, out, kernel_size=k, **call)``, or a re-sampler."""

    layer: LayerFactory
    wavelet: str
    mode: str
    call: dict[str, Any] = field(default_factory=dict)  # every keyword of a layer call but kernel_size

    def build(self, new: NewLayer | Resampler, channels: int | None) -> nn.Module:
        """The module for one site; ``channels``: its probed input channel count (None: unknown)."""
        if isinstance(new, Resampler):
            module = (WaveletUpsample(channels, wavelet=self.wavelet, mode=self.mode) if new.up
                      else WaveletDownsample(channels, wavelet=self.wavelet, stride=2, mode=self.mode))
        else:
            cin = channels if new.in_channels is None else new.in_channels
            cout = channels if new.out_channels is None else new.out_channels
            module = self.layer(cin, cout, kernel_size=new.kernel_size, **self.call)
            if not isinstance(module, nn.Module):
                raise TypeError(f"layer {self.layer!r} must return an nn.Module, got {type(module).__name__}")
        return FloorDownsample(module) if new.floor else module


def make_builder(
    model: nn.Module, wavelet: str, options: RewriteOptions, layer_kwargs: dict[str, Any], upsample: str | None = None
) -> Builder:
    """Check ``model``, the wavelet and mode, and resolve the layer call (see :mod:`.contract`);
    ``upsample``: the up-sampling head for ``replace_upsampling``, None for ``replace_downsampling``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    reserved = sorted(PER_SITE & set(layer_kwargs))
    if reserved:
        raise TypeError(f"{reserved} are set per site by the rewriter; pass only other layer arguments")
    name, mode = canonical_name(wavelet), options.mode
    check_mode(DEFAULT_MODE if mode is None else mode, name)
    call: dict[str, Any] = dict(kernel_size=None, wavelet=name)
    if options.levels is not None:
        call["levels"] = options.levels
    if mode is not None:
        call["mode"] = mode
    call.update(layer_kwargs)
    call = factory_call_kwargs(options.layer, call, upsample)
    del call["kernel_size"]
    return Builder(options.layer, name, DEFAULT_MODE if mode is None else mode, call)


def check_flags(**flags: object) -> None:
    """TypeError unless every flag is a bool."""
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    """ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _filter_reason(path: str, include: tuple[str, ...] | None, exclude: tuple[str, ...] | None) -> str | None:
    if include is not None and not any(fnmatch.fnmatchcase(path, p) for p in include):
        return f"not matched by include={list(include)}"
    for p in exclude or ():
        if fnmatch.fnmatchcase(path, p):
            return f"excluded by pattern {p!r}"
    return None


def _probe_channels(model: nn.Module, sites: list[Site], example_input: Any) -> dict[str, int]:
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


def _install(plan: Plan, new: nn.Module) -> None:
    for parent, name in plan.site.slots:
        setattr(parent, name, new)
    if plan.absorbed is not None:
        for parent, name in plan.absorbed.slots:
            setattr(parent, name, nn.Identity())


def _replacement(plan: Plan, new: nn.Module, work: nn.Module, copy_weights: bool) -> Replacement:
    """Put ``new`` on the device/dtype/mode of the old module, seed it, and describe the swap."""
    old, absorbed = plan.site.module, plan.absorbed.module if plan.absorbed else None
    ref = _reference_tensor(old, absorbed, work)
    if ref is not None:
        new.to(device=ref.device, dtype=ref.dtype)
    new.train(old.training)
    notes = []
    if copy_weights and plan.swap.seed is not None and _seed_head(new, plan.swap.seed):
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
    return Replacement(
        plan.site.path, plan.kind, old_text, describe(new), count_params(old, absorbed), count_params(new), tuple(notes)
    )


def rewrite(
    operation: str, model: nn.Module, find: Finder, builder: Builder, options: RewriteOptions, shortcuts: bool = True
) -> tuple[nn.Module, RewriteReport]:
    """Find the sites of ``model`` (or of a deep copy), filter, probe, build, place; report."""
    check_flags(shortcuts=shortcuts)
    dry_run, example_input = options.dry_run, options.example_input
    work = model if (options.inplace or dry_run) else copy.deepcopy(model)
    params_before = count_params(work)
    found = [item for parent, children in walk(work) for item in find(parent, children)]
    order = {name: i for i, (name, _) in enumerate(work.named_modules(remove_duplicate=False))}
    for item in found:
        if is_shortcut(work, item.site.path):
            item.kind = f"shortcut {item.kind}"

    plans: list[Plan] = []
    skips: list[Skip] = [item for item in found if isinstance(item, Skip)]
    for plan in (item for item in found if isinstance(item, Plan)):
        reason = _filter_reason(plan.site.path, options.include, options.exclude)
        if reason is None and not shortcuts and plan.kind.startswith("shortcut"):
            reason = "residual shortcut (shortcuts=False)"
        if reason:
            skips.append(Skip(plan.site, plan.kind, reason))
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
            skips.append(Skip(plan.site, plan.kind, f"input channel count unknown: {why}"))
            continue
        try:
            new = builder.build(plan.swap.new, channels.get(plan.site.path))
        except ValueError as exc:  # e.g. a channel count the layer's channel DWT cannot split
            skips.append(Skip(plan.site, plan.kind, f"layer refused: {exc}"))
            continue
        replaced.append(_replacement(plan, new, work, options.copy_weights))
        if not dry_run:
            _install(plan, new)

    params_after = params_before + sum(r.param_delta for r in replaced)
    replaced.sort(key=lambda r: order[r.path])
    skipped = [
        SkippedSite(s.site.path, s.kind, describe(s.site.module), s.reason)
        for s in sorted(skips, key=lambda s: order[s.site.path])
    ]
    return work, RewriteReport(operation, dry_run, params_before, params_after, replaced, skipped)
