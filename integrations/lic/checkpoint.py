"""Checkpoints: safetensors files (no pickles) with a JSON metadata header.

Metadata keys (all strings): ``format`` (``wavelayers-lic/1``), ``model`` (registered or custom
name), ``quality``, ``lambda``, ``config`` (JSON of :class:`~integrations.lic.model.LICConfig`),
``fingerprint`` (the weights' SHA-256, also in every file the model writes), ``command`` (how the
weights were made) and ``extra`` (JSON, free-form). The tensors are the full ``state_dict``,
CDF tables included, so that a decoder uses exactly the encoder's tables.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, fields

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save

from integrations.compression.container import write_atomic

from .model import LAMBDAS, LICConfig, WeConveneLIC

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "read_metadata"]

CHECKPOINT_FORMAT = "wavelayers-lic/1"


def save_checkpoint(
    model: WeConveneLIC,
    path: str | os.PathLike,
    *,
    lmbda: float | None = None,
    command: str = "",
    extra: dict | None = None,
    force: bool = False,
    half: bool = False,
) -> None:
    """Rebuild ``model``'s CDF tables from its current weights, then write ``path`` atomically
    (refusing to overwrite unless ``force``). ``half`` stores as float16 the parameters, which
    float16 must hold exactly (see ``training.round_to_half``); buffers stay as they are."""
    model.update(force=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        for k in dict(model.named_parameters()):
            v = tensors[k]
            if v.is_floating_point():
                if not torch.equal(v.half().to(v.dtype), v):
                    raise ValueError(f"half=True but {k} is not exactly representable in float16")
                tensors[k] = v.half()
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "model": model.name,
        "quality": str(model.quality),
        "lambda": repr(float(LAMBDAS[model.quality] if lmbda is None else lmbda)),
        "config": json.dumps(asdict(model.config), sort_keys=True),
        "fingerprint": model.fingerprint(),
        "command": command,
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    write_atomic(path, safetensors_save(tensors, metadata=metadata), force=force)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata header of a checkpoint (raises ValueError for anything else)."""
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a safetensors checkpoint ({e})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a wavelayers LIC checkpoint (format {meta.get('format')!r}, "
                         f"expected {CHECKPOINT_FORMAT!r})")
    return meta


def load_checkpoint(path: str | os.PathLike) -> WeConveneLIC:
    """Build the model a checkpoint describes and load its weights and CDF tables (eval mode)."""
    meta = read_metadata(path)
    try:
        raw = json.loads(meta["config"])
        known = {f.name for f in fields(LICConfig)}
        config = LICConfig(**{k: v for k, v in raw.items() if k in known})
        model = WeConveneLIC(config, name=meta["model"], quality=int(meta["quality"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: invalid checkpoint metadata ({e})") from None
    with safe_open(os.fspath(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors = {k: v.float() if v.dtype == torch.float16 else v for k, v in tensors.items()}
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit the model {meta['model']!r} ({e})") from None
    return model.eval()
