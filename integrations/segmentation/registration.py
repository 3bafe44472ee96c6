"""Register a class in an mmengine registry once, under however many names its file is imported.

A checkout imports this package under two names: ``integrations.segmentation`` (tests, examples,
``python -m integrations.segmentation``) and ``wavelayers_integrations.segmentation`` (the name
the wheel and the editable install give it, which the configs' ``custom_imports`` use). Python
runs the file once per name; mmengine refuses a second class of the same name.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mmengine.registry import Registry

__all__ = ["register_once"]

T = TypeVar("T", bound=type)


def _source(cls: type) -> tuple[Path, str]:
    return Path(inspect.getfile(cls)).resolve(), cls.__qualname__


def register_once(registry: Registry) -> Callable[[T], T]:
    """Class decorator: register the class in ``registry`` under its name; when the same class of
    the same file is already there (the file imported under its other name), give back that one,
    so both names share one class (``isinstance`` agrees across them).

    Raises:
        KeyError: another class of that name is registered (mmengine's error).
    """

    def decorate(cls: T) -> T:
        known = registry.module_dict.get(cls.__name__)
        if known is not None and _source(known) == _source(cls):
            return known
        registry.register_module(module=cls)
        return cls

    return decorate
