"""Weight averaging of LIC checkpoints (a "model soup", Wortsman et al., ICML 2022).

Runs that start from one checkpoint and train on different crops and rate points stay close in
weight space; the mean of their parameters is often a better model than either. The mean is taken
over the parameters only (gains of a variable-rate model included); the CDF tables are rebuilt from
the averaged weights when the result is saved, so it codes bit-exactly like any other checkpoint.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from .checkpoint import lineage, load_checkpoint, save_checkpoint
from .model import WeConveneLIC
from .training import round_to_half

__all__ = ["average_models", "average_checkpoints"]


def _normalised_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """``count`` averaging weights summing to 1 (``None``: equal); each given one must be positive."""
    raw = [1.0] * count if weights is None else [float(w) for w in weights]
    if len(raw) != count or any(not w > 0 for w in raw):
        raise ValueError(f"expected {count} positive weights, got {raw}")
    return [w / sum(raw) for w in raw]


@torch.no_grad()
def average_models(models: Sequence[WeConveneLIC], weights: Sequence[float] | None = None) -> WeConveneLIC:
    """Set the first model's parameters to the weighted mean of all ``models``' and return it.

    ``models`` must share name, configuration and parameter shapes (e.g. runs from one ``--init``);
    ``weights`` (default equal) must be positive and are normalised to sum to 1. Buffers (the CDF
    tables) are left to ``update``.
    """
    if len(models) < 2:
        raise ValueError(f"averaging needs at least two models, got {len(models)}")
    weights = _normalised_weights(weights, len(models))
    first = models[0]
    for m in models[1:]:
        if (m.name, m.config) != (first.name, first.config):
            raise ValueError(f"cannot average {m.name} ({m.config}) with {first.name} ({first.config})")
    params = [dict(m.named_parameters()) for m in models]
    for name, p in params[0].items():
        p.copy_(sum(w * ps[name].float() for w, ps in zip(weights, params)).to(p.dtype))
    return first


def average_checkpoints(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    weights: Sequence[float] | None = None,
    half: bool = False,
    command: str = "",
    force: bool = False,
) -> WeConveneLIC:
    """Average the checkpoints ``paths`` (:func:`average_models`) and write ``out`` (float16 with
    ``half``, rounded before the CDF tables are built). Its metadata keep the lineage of every
    input under ``extra["averaged"]`` and the normalised weights (summing to 1) under
    ``extra["weights"]``."""
    models = [load_checkpoint(p) for p in paths]
    model = average_models(models, weights)
    if half:
        round_to_half(model)
    extra = {"averaged": [lineage(p) for p in paths], "weights": _normalised_weights(weights, len(paths)),
             "half": half}
    save_checkpoint(model, out, command=command, extra=extra, force=force, half=half)
    return model
