"""Learned image compression with wavelayers: the 3DM-WeConvene codec, real bitstreams, CLI and evaluation.

Entry points: :func:`build_model` (registered presets ``paper`` / ``small`` / ``tiny`` with the
3DWeChARM, WeChARM or ChWP entropy models), :func:`load_checkpoint` / :func:`save_checkpoint`,
:class:`RateDistortionLoss`, and ``python -m integrations.lic`` (see ``docs/lic.md``).
"""
from .loss import RateDistortionLoss
from .model import LAMBDAS, PRESETS, LICConfig, WeConveneLIC, build_model, model_names

__all__ = [
    "build_model", "model_names", "WeConveneLIC", "LICConfig", "PRESETS", "LAMBDAS",
    "load_checkpoint", "save_checkpoint", "RateDistortionLoss",
]


def __getattr__(name: str):
    # Checkpoint I/O needs the container module; import it on first use only.
    if name in ("load_checkpoint", "save_checkpoint"):
        from . import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
