"""Learned image compression with wavelayers: the 3DM-WeConvene codec, real bitstreams, CLI and evaluation.

Modules in dependency order: :mod:`.model` (networks, registered names, bytes) <- :mod:`.checkpoint`
<- :mod:`.codec` (which weights, files) <- :mod:`.evaluate` / :mod:`.training` <- :mod:`.cli`
(``python -m <package>.lic``, see ``docs/lic.md``). Entry points: :func:`build_model` (registered
presets ``paper`` / ``small`` / ``tiny`` with the 3DWeChARM, WeChARM or ChWP entropy models, also
through ``toolkit.create_model``), :func:`load_checkpoint` / :func:`save_checkpoint`,
:class:`RateDistortionLoss`.
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .loss import RateDistortionLoss
from .model import LAMBDAS, PRESETS, LICConfig, WeConveneLIC, build_model, model_names

__all__ = [
    "build_model", "model_names", "WeConveneLIC", "LICConfig", "PRESETS", "LAMBDAS",
    "load_checkpoint", "save_checkpoint", "RateDistortionLoss",
]
