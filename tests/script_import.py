"""Import a script module (``benchmarks/``, ``tools/``) that is not part of an installed package."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def import_script(folder: Path, name: str) -> ModuleType:
    """Import ``folder/name.py`` as module ``name``; ``folder`` is on ``sys.path`` only for the import."""
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
