"""The module-tree walk: every container's children, as sites that know all the slots holding them."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from torch import nn

__all__ = ["Site", "walk", "is_own"]


@dataclass
class Site:
    """A module at ``path`` (its first path), held at every ``(parent, attribute)`` in ``slots``."""

    path: str
    module: nn.Module
    slots: list[tuple[nn.Module, str]] = field(default_factory=list)


def is_own(module: nn.Module) -> bool:
    """A module defined in ``wavelayers`` (never entered: a ``WeConv3D`` holds strided convs itself)."""
    return type(module).__module__.startswith("wavelayers.")


def walk(model: nn.Module) -> list[tuple[nn.Module, list[Site]]]:
    """``(parent, children)`` for every container outside ``wavelayers`` modules, breadth first,
    children in registration order; a module held at several places is one site with several slots."""
    sites: dict[int, Site] = {}
    out: list[tuple[nn.Module, list[Site]]] = []
    queue: deque[tuple[str, nn.Module]] = deque([("", model)])
    while queue:
        prefix, parent = queue.popleft()
        if is_own(parent):
            continue
        children = []
        for name, child in parent._modules.items():
            if child is None:
                continue
            site = sites.get(id(child))
            if site is None:
                site = sites[id(child)] = Site(f"{prefix}{name}", child)
                queue.append((f"{prefix}{name}.", child))
                children.append(site)
            site.slots.append((parent, name))
        out.append((parent, children))
    return out
