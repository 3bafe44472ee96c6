"""LIC checkpoints in the shared format (:mod:`..toolkit.checkpoint`), tag ``wavelayers-lic/1``.

Besides the shared keys (``model``, ``config`` = JSON of :class:`~.model.LICConfig`, ``command``,
``extra`` with the lineage under ``extra["init"]``) a LIC checkpoint holds ``quality``, ``lambda``
and ``fingerprint`` (the weights' SHA-256, also in every file the model writes). The tensors are
the full ``state_dict``, CDF tables included, so that a decoder uses exactly the encoder's tables.
The shipped weights (:mod:`.weights`) are files of this format.
"""
from __future__ import annotations

import os
from dataclasses import asdict, fields
from typing import Any

import torch

from ..toolkit import checkpoint as ckpt
from .model import LICConfig, WeConveneLIC

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "read_metadata", "lineage", "parse_quality"]

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
    tensors = ckpt.state_tensors(model.state_dict())
    if half:
        for k in dict(model.named_parameters()):
            v = tensors[k]
            if v.is_floating_point():
                if not torch.equal(v.half().to(v.dtype), v):
                    raise ValueError(f"half=True but {k} is not exactly representable in float16")
                tensors[k] = v.half()
    fields_ = {"quality": str(model.quality), "lambda": repr(float(model.lmbda if lmbda is None else lmbda)),
               "fingerprint": model.fingerprint()}
    ckpt.save_checkpoint(path, tensors, format=CHECKPOINT_FORMAT, model=model.name, config=asdict(model.config),
                         command=command, extra=extra, fields=fields_, force=force)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata header of a checkpoint (raises ValueError for anything else)."""
    return ckpt.read_metadata(path, CHECKPOINT_FORMAT)


def lineage(path: str | os.PathLike) -> dict[str, Any]:
    """The ``extra["init"]`` record of a run that starts from the checkpoint ``path``."""
    record = ckpt.lineage(path, CHECKPOINT_FORMAT)
    return {**record, "quality": parse_quality(record["quality"])}


def parse_quality(text: str) -> int | float:
    """A checkpoint's ``quality`` field (``'3'``, or ``'2.5'`` for a variable-rate model) -> 3 / 2.5."""
    value = float(text)
    return int(value) if value.is_integer() else value


def load_checkpoint(path: str | os.PathLike) -> WeConveneLIC:
    """Build the model a checkpoint describes and load its weights and CDF tables (eval mode)."""
    meta, tensors = ckpt.read_checkpoint(path, CHECKPOINT_FORMAT)
    try:
        raw = ckpt.json_field(meta, "config", path)
        known = {f.name for f in fields(LICConfig)}
        config = LICConfig(**{k: v for k, v in raw.items() if k in known})
        model = WeConveneLIC(config, name=meta["model"], quality=parse_quality(meta["quality"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: invalid checkpoint metadata ({e})") from None
    ckpt.load_weights(model, tensors, path)
    return model.eval()
