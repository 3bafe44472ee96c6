"""The one way integrations write files: atomically (temporary file, then rename), refusing to
replace an existing file unless ``force``; plus append-only logs (CSV rows, JSON lines)."""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

import torch

from ..compression.container import write_atomic

__all__ = ["write_atomic", "save_torch", "load_torch", "append_csv", "append_jsonl"]


def save_torch(obj: Any, path: str | os.PathLike, force: bool = True) -> None:
    """``torch.save(obj)`` to ``path`` atomically (training states: tensors and plain containers)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue(), force=force)


def load_torch(path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
    """What :func:`save_torch` wrote, loaded with ``weights_only=True`` (no arbitrary pickles)."""
    return torch.load(path, map_location=device, weights_only=True)


def append_csv(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append ``row`` to a CSV file (header from the row's keys when the file is new)."""
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
