"""The model registry: ``create_model(name, **kwargs)`` for every integration's models, as timm does.

An integration registers its factories when its package is imported
(``register_model('cifar-resnet18', factory)``); :func:`create_model` and :func:`list_models`
import every integration package first, so a name can be used without importing its package.
Names are global: ``3dm-weconvene-small``, ``cifar-resnet18``, ``mirnet-v2-small``, ``dvc-small``...
"""
from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable

from torch import nn

__all__ = ["register_model", "create_model", "list_models", "is_model", "INTEGRATIONS"]

# The sub-packages of this package's parent that register models on import.
INTEGRATIONS = ("lic", "classification", "denoising", "video")
_PARENT = __package__.rpartition(".")[0]
_FACTORIES: dict[str, tuple[str, Callable[..., nn.Module]]] = {}


def register_model(name: str, factory: Callable[..., nn.Module], integration: str) -> None:
    """Register ``factory(**kwargs) -> nn.Module`` as model ``name`` of ``integration``."""
    known = _FACTORIES.get(name)
    if known is not None and known[0] != integration:
        raise ValueError(f"model name {name!r} is already registered by {known[0]!r}")
    _FACTORIES[name] = (integration, factory)


def _import_all() -> None:
    for package in INTEGRATIONS:
        importlib.import_module(f"{_PARENT}.{package}")


def list_models(pattern: str = "*", integration: str | None = None) -> list[str]:
    """Registered names matching the glob ``pattern`` (of ``integration`` only, if given), sorted."""
    _import_all()
    return sorted(n for n, (owner, _) in _FACTORIES.items()
                  if fnmatch.fnmatchcase(n, pattern) and integration in (None, owner))


def is_model(name: str) -> bool:
    return name in list_models()


def create_model(name: str, **kwargs) -> nn.Module:
    """Build registered model ``name``; ``kwargs`` go to its factory (e.g. ``wavelet='haar'``)."""
    if name not in _FACTORIES:
        _import_all()
    if name not in _FACTORIES:
        raise ValueError(f"unknown model {name!r}: expected one of {list_models()}")
    return _FACTORIES[name][1](**kwargs)
