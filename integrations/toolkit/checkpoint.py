"""The one checkpoint format of the integrations: a safetensors file (no pickles) whose string
metadata describe how to rebuild the model.

Metadata keys: ``format`` (``wavelayers-<integration>/<version>``, e.g. ``wavelayers-lic/1``),
``model`` (a registered model name, see :mod:`.registry`, or a custom one), ``config`` (JSON of
the architecture), ``command`` (how the weights were made) and ``extra`` (JSON, free-form:
training settings, metrics). Lineage: ``extra["init"]`` is the :func:`lineage` record of the
checkpoint the weights started from (which holds that one's ``extra``, and so on back to the first
run). An integration may add its own string keys (``fields``), e.g. LIC's ``quality``.

Files are written atomically and an existing file is refused unless ``force``.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save
from torch import Tensor, nn

from .files import write_atomic

__all__ = ["save_checkpoint", "read_metadata", "read_checkpoint", "load_weights", "state_tensors", "lineage",
           "json_field", "RESERVED_KEYS"]

RESERVED_KEYS = ("format", "model", "config", "command", "extra")


def state_tensors(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A state dict as detached, contiguous CPU tensors (what safetensors stores)."""
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_checkpoint(
    path: str | os.PathLike,
    tensors: Mapping[str, Tensor],
    *,
    format: str,
    model: str,
    config: Mapping[str, Any],
    command: str = "",
    extra: Mapping[str, Any] | None = None,
    fields: Mapping[str, str] | None = None,
    force: bool = False,
) -> None:
    """Write ``tensors`` and the metadata (module docstring) to ``path`` atomically; refuses an
    existing file unless ``force``. ``fields``: more string keys (not the reserved ones)."""
    clash = sorted(set(fields or {}) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(f"fields may not set the reserved metadata keys {clash}")
    metadata = {
        "format": format, "model": model, "config": json.dumps(dict(config), sort_keys=True),
        "command": command, "extra": json.dumps(dict(extra or {}), sort_keys=True), **dict(fields or {}),
    }
    write_atomic(path, safetensors_save(state_tensors(tensors), metadata=metadata), force=force)


def read_metadata(path: str | os.PathLike, format: str) -> dict[str, str]:
    """The metadata of a checkpoint in ``format`` (ValueError for any other file)."""
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a safetensors checkpoint ({e})") from None
    if meta.get("format") != format:
        raise ValueError(f"{path}: not a {format.split('/')[0]} checkpoint (format {meta.get('format')!r}, "
                         f"expected {format!r})")
    return meta


def read_checkpoint(
    path: str | os.PathLike, format: str, device: str | torch.device = "cpu"
) -> tuple[dict[str, str], dict[str, Tensor]]:
    """``(metadata, tensors)`` of a checkpoint in ``format``; float16 tensors come back as float32."""
    meta = read_metadata(path, format)
    with safe_open(os.fspath(path), framework="pt", device=str(device)) as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return meta, {k: v.float() if v.dtype == torch.float16 else v for k, v in tensors.items()}


def json_field(meta: Mapping[str, str], key: str, path: str | os.PathLike) -> Any:
    """``json.loads(meta[key])``, with a ValueError naming the file when it is missing or invalid."""
    try:
        return json.loads(meta[key])
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: invalid checkpoint metadata {key!r} ({e})") from None


def load_weights(module: nn.Module, tensors: Mapping[str, Tensor], path: str | os.PathLike,
                 strict: bool = True) -> None:
    """``module.load_state_dict(tensors)``; a mismatch is a ValueError naming the file."""
    try:
        module.load_state_dict(dict(tensors), strict=strict)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit the model ({e})") from None


def lineage(path: str | os.PathLike, format: str) -> dict[str, Any]:
    """The record a checkpoint started from ``path`` keeps as ``extra["init"]``: file name,
    SHA-256, model, command, ``extra`` (with its own ``init``) and the integration's own keys."""
    meta = read_metadata(path, format)
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    own = {k: v for k, v in meta.items() if k not in RESERVED_KEYS}
    return {"file": Path(path).name, "sha256": digest, "model": meta.get("model", ""),
            "command": meta.get("command", ""), "extra": json_field(meta, "extra", path), **own}
