"""What a rewriter returns: one row per replaced / skipped site, and the table ``print`` shows."""
from __future__ import annotations

from dataclasses import dataclass, field
from torch import nn

from .contract import Describes
from .rules import pair

__all__ = ["Replacement", "SkippedSite", "RewriteReport", "describe", "count_params"]


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
            lines += ["", *table(("path", "kind", "old", "new", "params", "notes"), rows, right={4})]
        if self.skipped:
            rows = [(s.path, s.kind, s.module, s.reason) for s in self.skipped]
            lines += ["", "skipped:", *table(("path", "kind", "module", "reason"), rows)]
        return "\n".join(lines)


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int] = frozenset()) -> list[str]:
    """Plain-text table lines: a header, a rule, one line per row (columns in ``right`` right-aligned)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells: tuple[str, ...]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  " + "  ".join(out).rstrip()

    return [fmt(headers), "  " + "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def describe(module: nn.Module) -> str:
    """A one-line description of ``module`` for the report: its own ``describe()`` when it has one
    (the wavelet layers do), a compact form for torch's convs and pools, else ``Name(extra_repr)``."""
    if isinstance(module, Describes):
        return module.describe()
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
        k, s, p = (pair(v) for v in (module.kernel_size, module.stride or module.kernel_size, module.padding))
        ceil = ", ceil" if module.ceil_mode else ""
        return f"{type(module).__name__}(k{_fmt2(k)}, s{_fmt2(s)}, p{_fmt2(p)}{ceil})"
    extra = " ".join(module.extra_repr().split())
    return f"{type(module).__name__}({extra})"


def count_params(*modules: nn.Module | None) -> int:
    """Number of parameter elements of ``modules`` (``None`` counts 0)."""
    return sum(p.numel() for m in modules if m is not None for p in m.parameters())


def _fmt2(v: tuple[int, ...] | str) -> str:
    if isinstance(v, str):
        return v
    return str(v[0]) if len(set(v)) == 1 else "x".join(str(x) for x in v)

