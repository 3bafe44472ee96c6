"""DVC (Lu et al., CVPR 2019) P-frame model with the wavelet switch, presets and coding entry points.

P-frame data flow (``x`` current, ``r`` reference, both (N, 3, H, W) in [0, 1], H and W multiples
of :data:`MULTIPLE`)::

    flow = PyramidFlow(x, r)                          (N, 2, H, W)       encoder only
    flow_hat = MotionCoder(flow)                      latent (N, C_mv, H/16, W/16)
    warped = warp(r, flow_hat)
    pred = MotionCompensation(warped, r, flow_hat)
    res_hat = ResidualCoder(x - pred)                 y (N, M, H/16, W/16), z (N, N_h, H/64, W/64)
    x_hat = pred + res_hat

``wavelet`` ('none' | 'haar' | 'bior2.2' | 'bior4.4') swaps the stride-2 convs of the motion and
residual encoders for ``WeConv3D(stride=2)`` and the transposed convs of their decoders for
``WeConv3D(upsample="transposed")`` (see :mod:`.sampling`).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .coders import CDF_BUFFER_SUFFIXES, ENTROPY_MODELS, MotionCoder, ResidualCoder
from .compensation import MotionCompensation
from .flow import PyramidFlow
from ..toolkit.registry import register_model
from ..toolkit.wavelets import check_wavelet
from .warp import warp

__all__ = ["DVCConfig", "PRESETS", "MODEL_NAMES", "DVC", "PFrameOutput", "build_model", "pad_frame", "MULTIPLE"]

MULTIPLE = 64  # 4 stride-2 layers (/16) then the hyperprior's 2 more (/64)


@dataclass(frozen=True)
class DVCConfig:
    """Sizes of the DVC sub-networks (see :data:`PRESETS`)."""

    flow_levels: int = 4
    flow_channels: tuple[int, ...] = (32, 64, 32, 16)
    flow_kernel: int = 7
    mv_channels: int = 128
    res_channels: int = 128
    res_latent_channels: int = 192
    hyper_channels: int = 128
    mc_channels: int = 64
    wavelet: str = "none"
    weconv_levels: int = 2
    residual_entropy: str = "hyperprior"

    def __post_init__(self) -> None:
        check_wavelet(self.wavelet)
        if self.residual_entropy not in ENTROPY_MODELS:
            raise ValueError(f"residual_entropy must be one of {ENTROPY_MODELS}, got {self.residual_entropy!r}")
        object.__setattr__(self, "flow_channels", tuple(self.flow_channels))


PRESETS: dict[str, DVCConfig] = {
    # DVC as published: MV coder 128 ch, residual coder N=128 / M=192 (Balle 2018 sizes), MC width 64.
    "dvc": DVCConfig(),
    # The channel sizes of the PyTorch reimplementation linked by the authors (ZhihaoHu, 64 / 96 / 128).
    "dvc-pytorch": DVCConfig(res_channels=64, res_latent_channels=96, hyper_channels=64),
    # CPU tests and demos: same structure, narrow.
    "small": DVCConfig(flow_channels=(16, 32, 16, 8), flow_kernel=5, mv_channels=32, res_channels=32,
                       res_latent_channels=48, hyper_channels=32, mc_channels=16),
}
MODEL_NAMES = {"dvc": "dvc", "dvc-pytorch": "dvc-pytorch", "dvc-small": "small"}  # registered name -> preset


@dataclass
class PFrameOutput:
    """One P-frame pass: ``x_hat``, ``warped`` (by the decoded flow), ``prediction`` (MC output,
    ``None`` in the motion stage) and the likelihood tensors of the motion and residual latents."""

    x_hat: Tensor | None
    warped: Tensor
    prediction: Tensor | None
    flow: Tensor
    motion_likelihoods: list[Tensor]
    residual_likelihoods: list[Tensor]


def pad_frame(x: Tensor, multiple: int = MULTIPLE) -> Tensor:
    """Replicate-pad (N, C, H, W) on the bottom / right to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


class DVC(nn.Module):
    """DVC P-frame codec. ``name`` names the configuration in model ids (e.g. ``small``)."""

    def __init__(self, config: DVCConfig = DVCConfig(), name: str = "custom") -> None:
        super().__init__()
        self.config = config
        self.name = name
        c = config
        self.flow = PyramidFlow(c.flow_levels, c.flow_channels, c.flow_kernel)
        self.motion = MotionCoder(c.mv_channels, c.wavelet, c.weconv_levels)
        self.compensation = MotionCompensation(c.mc_channels)
        self.residual = ResidualCoder(c.res_channels, c.res_latent_channels, c.hyper_channels, c.wavelet,
                                      c.weconv_levels, c.residual_entropy)

    # -- training / estimation ----------------------------------------------------------------
    def forward(self, cur: Tensor, ref: Tensor, stage: str = "full") -> PFrameOutput:
        """``stage='motion'`` runs flow + motion coder + warp only; ``'full'`` the whole P-frame path."""
        if stage not in ("motion", "full"):
            raise ValueError(f"stage must be 'motion' or 'full', got {stage!r}")
        self._check_frames(cur, ref)
        flow = self.flow(cur, ref)
        flow_hat, mv_lik = self.motion(flow)
        warped = warp(ref, flow_hat)
        if stage == "motion":
            return PFrameOutput(None, warped, None, flow, mv_lik, [])
        pred = self.compensation(warped, ref, flow_hat)
        res_hat, res_lik = self.residual(cur - pred)
        return PFrameOutput(pred + res_hat, warped, pred, flow, mv_lik, res_lik)

    def _check_frames(self, cur: Tensor, ref: Tensor) -> None:
        if cur.dim() != 4 or cur.shape[1] != 3 or cur.shape != ref.shape:
            raise ValueError(f"cur and ref must both be (N, 3, H, W), got {tuple(cur.shape)} and {tuple(ref.shape)}")
        h, w = cur.shape[-2:]
        if h % MULTIPLE or w % MULTIPLE:
            raise ValueError(f"frame size must be a multiple of {MULTIPLE}, got {h}x{w} (use pad_frame)")

    # -- real coding (batch 1, padded frames) --------------------------------------------------
    @torch.no_grad()
    def encode_pframe(self, cur: Tensor, ref: Tensor) -> tuple[list[bytes], Tensor]:
        """``cur``, ``ref`` (1, 3, H, W) -> ``([mv, z, y] streams, x_hat)``, ``x_hat`` as the decoder computes it."""
        self._check_frames(cur, ref)
        if cur.shape[0] != 1:
            raise ValueError(f"encode_pframe codes one frame at a time (batch 1), got batch {cur.shape[0]}")
        mv_streams, flow_hat = self.motion.compress(self.flow(cur, ref))
        pred = self._predict(ref, flow_hat)
        res_streams, res_hat = self.residual.compress(cur - pred)
        return [*mv_streams, *res_streams], pred + res_hat

    @torch.no_grad()
    def decode_pframe(self, streams: list[bytes], ref: Tensor) -> Tensor:
        """Inverse of :meth:`encode_pframe` given the same reference (1, 3, H, W)."""
        if len(streams) != 3:
            raise ValueError(f"a P-frame has 3 streams (mv, z, y), got {len(streams)}")
        h, w = ref.shape[-2:]
        latent = (h // 16, w // 16)
        flow_hat = self.motion.decompress(streams[:1], latent)
        pred = self._predict(ref, flow_hat)
        return pred + self.residual.decompress(streams[1:], latent)

    def _predict(self, ref: Tensor, flow_hat: Tensor) -> Tensor:
        return self.compensation(warp(ref, flow_hat), ref, flow_hat)

    def update(self, force: bool = False) -> None:
        """Build the entropy coders' CDF tables from the current weights (needed before coding)."""
        self.motion.update(force=force)
        self.residual.update(force=force)

    # -- identity ------------------------------------------------------------------------------
    def weight_state(self) -> dict[str, Tensor]:
        """The state dict without the CDF tables (which :meth:`update` rebuilds from the weights)."""
        return {k: v for k, v in self.state_dict().items() if not k.endswith(CDF_BUFFER_SUFFIXES)}

    def fingerprint(self) -> str:
        """SHA-256 of the weights (names, shapes, bytes), CDF tables excluded."""
        h = hashlib.sha256()
        for k, v in sorted(self.weight_state().items()):
            t = v.detach().cpu().contiguous()
            h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.numpy().tobytes())
        return h.hexdigest()

    @property
    def model_id(self) -> str:
        """``dvc-<name>-<wavelet>[-3dwecharm]@<fingerprint prefix>`` (<= 64 ASCII bytes)."""
        tag = f"dvc-{self.name}-{self.config.wavelet}"
        if self.config.residual_entropy != "hyperprior":
            tag += f"-{self.config.residual_entropy}"
        return f"{tag[:47]}@{self.fingerprint()[:16]}"

    def config_dict(self) -> dict:
        return asdict(self.config)


def build_model(name: str = "dvc-small", *, wavelet: str = "none", residual_entropy: str = "hyperprior",
                seed: int | None = 0) -> DVC:
    """A model of a registered name (``dvc``, ``dvc-pytorch``, ``dvc-small``); ``seed`` makes the
    initial weights reproducible. ``DVC.name`` (in the model id) is the preset: ``dvc``, ``dvc-pytorch``, ``small``."""
    if name not in MODEL_NAMES:
        raise ValueError(f"model must be one of {tuple(MODEL_NAMES)}, got {name!r}")
    preset = MODEL_NAMES[name]
    config = replace(PRESETS[preset], wavelet=wavelet, residual_entropy=residual_entropy)
    if seed is None:
        return DVC(config, name=preset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DVC(config, name=preset)


for _name in MODEL_NAMES:
    register_model(_name, partial(build_model, _name), integration=__package__.rpartition(".")[2])
