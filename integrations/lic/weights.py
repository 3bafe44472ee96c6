"""The trained weights that ship with the package (the package data folder ``lic/shipped/``) and their manifest.

``shipped/manifest.json`` lists every shipped checkpoint: file name, model name, quality, SHA-256,
the exact commands, data and budget that produced it, and reference metrics (bytes, PSNR) of one
bundled image coded with it. The CLI, the evaluation and ``examples/lic_kodak.py`` use these weights
whenever the model asked for has a shipped checkpoint; a file written with shipped weights decodes
without ``--checkpoint``.

The folder is found through :mod:`importlib.resources`, so it is the same in a checkout
(``integrations/lic/shipped/``) and in an installed wheel (``wavelayers_integrations/lic/shipped/``).
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

__all__ = ["WEIGHTS_DIR", "manifest", "shipped_checkpoint", "shipped_checkpoints", "shipped_for_model_id",
           "file_sha256"]



def _package_folder(name: str) -> Path:
    """The package data folder ``name`` of this package as a real directory (wheels install unzipped)."""
    resource = files(__package__).joinpath(name)
    try:
        return Path(os.fspath(resource))
    except TypeError:
        raise RuntimeError(
            f"the shipped weights must be files on disk, but {__package__} is imported from an archive "
            f"({resource!r}); install the wheel with pip instead of importing it from a zip"
        ) from None


WEIGHTS_DIR: Path = _package_folder("shipped")


def manifest(folder: str | os.PathLike = WEIGHTS_DIR) -> dict[str, dict]:
    """``{file name: entry}`` from ``folder/manifest.json`` (empty when there is none)."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["checkpoints"]


def shipped_checkpoints(name: str | None = None, folder: str | os.PathLike = WEIGHTS_DIR) -> list[Path]:
    """Paths of the shipped checkpoints (of model ``name`` if given), by model name then quality."""
    entries = sorted(manifest(folder).items(), key=lambda kv: (kv[1]["model"], kv[1]["quality"]))
    return [Path(folder) / f for f, e in entries if name is None or e["model"] == name]


def shipped_checkpoint(name: str, quality: int | float, folder: str | os.PathLike = WEIGHTS_DIR) -> Path | None:
    """The shipped checkpoint of model ``name`` at ``quality`` (a variable-rate model's one file
    for every quality), or None."""
    for f, e in manifest(folder).items():
        if e["model"] == name and (e.get("variable_rate", False) or e["quality"] == quality):
            return Path(folder) / f
    return None


def shipped_for_model_id(model_id: str, folder: str | os.PathLike = WEIGHTS_DIR) -> Path | None:
    """The shipped checkpoint whose weights wrote files with ``model_id`` (``name@fingerprint``), or None."""
    for f, e in manifest(folder).items():
        if e.get("model_id") == model_id:
            return Path(folder) / f
    return None


@lru_cache(maxsize=16)
def _sha256(path: str, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    return _sha256(os.fspath(path), os.stat(path).st_mtime_ns)
