"""3DM-WeConvene: a learned image codec with 3DM-WeConv layers and a wavelet-domain entropy model.

Networks (``N`` hidden, ``M`` latent channels; ``D`` = ``WeConv3D(stride=2)``, ``U`` =
``WeConv3D(upsample="subpixel")``, ``R`` = residual block, ``Z`` = hyper channels = ``N``)::

    g_a: x (3, H, W) ─D─► N ─R─D─► N ─R─D─► N ─R─D─► y (M, H/16, W/16)
    g_s: y ─U─► N ─R─U─► N ─R─U─► N ─R─ subpixel conv ─► x_hat (3, H, W)
    h_a: y ─ conv3x3 ─ LeakyReLU ─D─► N ─D─► z (Z, H/64, W/64)
    h_s: z_hat ─U─► N ─U─► N ─ conv3x3 ─► hyper features (M, H/16, W/16)

Every stride-2 layer of g_a / h_a and every up-sampling layer of g_s / h_s is a 3DM-WeConv layer
(1-level channel DWT, ``levels``-level spatial DWT, 3x3 conv on the coarsest LL band, 1x1 convs on the
detail bands, GDN / IGDN on the bands). ``z`` goes through CompressAI's EntropyBottleneck; ``y``
through the slice-wise entropy model of :mod:`..compression.entropy_models`
(3DWeChARM by default; WeChARM and ChWP as ablations), which receives the hyper features.

Any image size: the input is padded on the bottom / right to a multiple of 64 with ever more
blurred copies of its edges (:func:`extend_smoothly`; cheaper to code than zeros, which add an edge,
or a replicated edge, which streaks its detail), and the output is cropped back.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wavelayers import GDN, ChWDTB, WeConv2D, WeConv3D

from ..compression.container import BitstreamError, Header, check_stream_capacity, pack, unpack
from ..compression.compressai_parts import CompressionModel, EntropyBottleneck
from ..compression.entropy_models import MAX_SYMBOL, ChWP, SliceEntropyModel, ThreeDWeChARM, WeChARM
from ..compression.entropy_models import guarded_stream, ste_round
from ..toolkit.registry import register_model
from .gains import GAIN_INITS, LAMBDAS, GainUnits, check_quality, lambda_of

__all__ = [
    "LICConfig", "WeConveneLIC", "PRESETS", "ENTROPY_MODELS", "LAMBDAS", "build_model", "model_names",
    "parse_model_name", "model_name", "model_config", "FAMILIES", "TRANSFORMS", "BLOCKS", "PAD_MULTIPLE",
    "compress_image", "decompress_image", "file_header", "VARIABLE_RATE_SUFFIX", "to_variable_rate", "deepen_encoder",
    "extend_smoothly",
]

PAD_MULTIPLE = 64
# Threads for everything the decoder recomputes (h_s, entropy parameters, g_s). oneDNN convolutions
# change their summation order with the thread count, so the encoder's and the decoder's entropy
# parameters (and images) agree bit for bit only if both use the same count: one, always.
CODING_THREADS = 1
# A registered name ending in this codes every quality in [1, 6] with one set of weights (:mod:`.gains`).
VARIABLE_RATE_SUFFIX = "-vr"
ENTROPY_MODELS = ("3dwecharm", "wecharm", "chwp4", "chwp8")
TRANSFORMS = ("weconv3d", "weconv2d", "conv")
BLOCKS = ("residual", "chwdtb")
# Model families: name prefix -> (config changes, entropy models it is registered with, default first).
FAMILIES = {
    "3dm-weconvene": ({}, ENTROPY_MODELS),
    # ChWDTA: plain strided / sub-pixel convolutions, two ChWDTB blocks per stage, ChWP entropy model.
    "chwdta": ({"transform": "conv", "block": "chwdtb", "res_blocks": 2}, ("chwp8", "chwp4")),
}


@dataclass(frozen=True)
class LICConfig:
    """Architecture of a :class:`WeConveneLIC`.

    ``levels``: spatial DWT levels inside the WeConv3D layers; ``res_blocks``: blocks per g_a / g_s
    stage; ``context_channels``, ``width``, ``param_width``: entropy-model widths;
    ``wecharm_slices``: LL and HF slice counts of the WeChARM ablation. Ablation switches:
    ``transform`` (the re-sampling layers of g_a / g_s / h_a / h_s): ``'weconv3d'`` (3DM-WeConv),
    ``'weconv2d'`` (WeConv, 2D DWT, 3x3 everywhere) or ``'conv'`` (strided conv / sub-pixel conv + GDN);
    ``hf_kernel``: WeConv3D's detail-band kernel (1 in the paper, 3 for "3x3 everywhere");
    ``block``: ``'residual'`` (two 3x3 convs) or ``'chwdtb'`` (ChWDTB transformer blocks, shifted
    windows on every second block). ``variable_rate``: one model for every quality in [1, 6] through
    gain units on ``y`` and ``z`` (:mod:`.gains`) instead of one model per quality.
    ``encoder_blocks``: extra gated residual blocks after the blocks of each of the first three g_a
    stages (an asymmetric codec: a stronger encoder, the same decoder; :func:`deepen_encoder`).
    """

    N: int
    M: int
    # the re-sampling layers
    transform: str = "weconv3d"
    wavelet: str = "bior4.4"
    levels: int = 2
    mode: str = "jpeg2000"
    hf_kernel: int = 1
    # the blocks between them
    block: str = "residual"
    res_blocks: int = 1
    # the entropy model of y
    entropy: str = "3dwecharm"
    context_channels: int = 128
    width: int = 128
    param_width: int = 128
    wecharm_slices: int = 5
    # one model for all rates
    variable_rate: bool = False
    # a stronger analysis transform
    encoder_blocks: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("entropy", ENTROPY_MODELS), ("transform", TRANSFORMS), ("block", BLOCKS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.hf_kernel not in (1, 3):
            raise ValueError(f"hf_kernel must be 1 or 3, got {self.hf_kernel!r}")
        if isinstance(self.encoder_blocks, bool) or not isinstance(self.encoder_blocks, int) or self.encoder_blocks < 0:
            raise ValueError(f"encoder_blocks must be an int >= 0, got {self.encoder_blocks!r}")


PRESETS = {
    "paper": LICConfig(N=128, M=320, context_channels=192, width=192, param_width=192, wecharm_slices=5),
    "small": LICConfig(N=64, M=128, context_channels=64, width=64, param_width=64, wecharm_slices=4),
    # For tests only: a few thousand parameters per layer, 1-level WeConv.
    "tiny": LICConfig(N=16, M=32, levels=1, context_channels=16, width=16, param_width=16, wecharm_slices=4),
}


def model_name(family: str, preset: str, entropy: str | None = None, variable_rate: bool = False) -> str:
    """``('chwdta', 'small', 'chwp4')`` -> ``'chwdta-small-chwp4'`` (the family's default entropy
    model is left out of the name); ``variable_rate`` appends :data:`VARIABLE_RATE_SUFFIX`."""
    default = FAMILIES[family][1][0]
    return (f"{family}-{preset}" + ("" if entropy in (None, default) else f"-{entropy}")
            + (VARIABLE_RATE_SUFFIX if variable_rate else ""))


def model_names() -> list[str]:
    """All registered model names: ``<family>-<preset>[-<entropy model>][-vr]``, e.g.
    ``3dm-weconvene-small``, ``3dm-weconvene-small-wecharm``, ``3dm-weconvene-small-vr`` (variable
    rate), ``chwdta-small``, ``chwdta-small-chwp4``."""
    return [model_name(f, p, e, vr) for f, (_, entropies) in FAMILIES.items() for p in PRESETS for e in entropies
            for vr in (False, True)]


def parse_model_name(name: str) -> tuple[str, str, str, bool]:
    """``'3dm-weconvene-small-chwp8-vr'`` -> ``('3dm-weconvene', 'small', 'chwp8', True)``."""
    if name not in model_names():
        raise ValueError(f"unknown model {name!r}: expected one of {model_names()}")
    variable_rate = name.endswith(VARIABLE_RATE_SUFFIX)
    base = name[: -len(VARIABLE_RATE_SUFFIX)] if variable_rate else name
    family = next(f for f in FAMILIES if base.startswith(f + "-"))
    parts = base[len(family) + 1:].split("-")
    return family, parts[0], parts[1] if len(parts) > 1 else FAMILIES[family][1][0], variable_rate


def model_config(name: str, **changes) -> LICConfig:
    """The :class:`LICConfig` of a registered model name, with ``changes`` (ablations) applied."""
    family, preset, entropy, variable_rate = parse_model_name(name)
    known = {f.name for f in fields(LICConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValueError(f"unknown LICConfig fields {unknown}: expected some of {sorted(known)}")
    return replace(PRESETS[preset], **{**FAMILIES[family][0], "entropy": entropy, "variable_rate": variable_rate,
                                       **changes})


def build_model(name: str, quality: int | float = 3, seed: int | None = None) -> "WeConveneLIC":
    """A registered model with a deterministic initialisation (``seed`` defaults to one derived from
    ``name`` and, for a fixed-rate model, ``quality``), CDF tables built and ready to code. Untrained:
    load a checkpoint for meaningful images (:func:`.checkpoint.load_checkpoint`)."""
    config = model_config(name)
    quality = check_quality(quality, config.variable_rate)
    if seed is None:
        key = name if config.variable_rate else f"{name}/{quality}"  # one set of weights for every quality
        seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WeConveneLIC(config, name=name, quality=quality)
    model.update(force=True)
    return model


@contextmanager
def coding_threads() -> Iterator[None]:
    """Run the block with ``CODING_THREADS`` intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    if before != CODING_THREADS:
        torch.set_num_threads(CODING_THREADS)
    try:
        yield
    finally:
        if before != CODING_THREADS:
            torch.set_num_threads(before)


def _blurred_edge(edge: Tensor, width: int) -> Tensor:
    """Box blur of ``edge`` (N, C, 1, L) along its length, ``width`` (odd) taps, ends replicated."""
    if width == 1:
        return edge
    padded = F.pad(edge, (width // 2, width // 2, 0, 0), mode="replicate")
    return F.avg_pool2d(padded, (1, width), stride=1)


def _extend_down(x: Tensor, rows: int) -> Tensor:
    """Append ``rows`` rows to ``x`` (N, C, H, W); row ``d`` below the image is its last row box-blurred
    over ``min(4d + 1, 33)`` pixels."""
    if rows == 0:
        return x
    edge = x[..., -1:, :]
    return torch.cat([x, *(_blurred_edge(edge, min(4 * d + 1, 33)) for d in range(1, rows + 1))], dim=-2)


def extend_smoothly(x: Tensor, height: int, width: int) -> Tensor:
    """Extend ``x`` (N, C, H, W) right and down to (N, C, ``height``, ``width``) with ever more blurred
    copies of its last column / row (row or column ``d`` away from the edge: blurred over
    ``min(4d + 1, 33)`` pixels along the edge), so that the padding the codec needs (multiples of
    :data:`PAD_MULTIPLE`, cropped off after decoding) is smooth and costs few bits. A replicated edge
    streaks the edge's detail across the padding: on scikit-image's ``coffee`` (400 x 600) it held 9 %
    of the bits (docs/lic.md, "Session 19"). Encoder side only; the decoder never sees the padding."""
    H, W = x.shape[-2:]
    if height < H or width < W:
        raise ValueError(f"cannot extend an image of {H} x {W} to {height} x {width}")
    x = _extend_down(x.transpose(-1, -2), width - W).transpose(-1, -2)
    return _extend_down(x, height - H).contiguous()


class ResidualBlock(nn.Module):
    """``x + act(conv3x3(act(conv3x3(x))))``, shape-preserving."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class GatedResidualBlock(nn.Module):
    """``x + gate * conv3x3(act(conv3x3(x)))`` with a learned scalar ``gate`` that starts at 0
    (ReZero, Bachlechner et al. 2021): the identity at first, and under Adam it fades in at the pace
    of one scalar rather than of a whole convolution. The body ends linear, so it cannot switch
    itself off through a final activation. Shape-preserving."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.gate * self.body(x)


class ConvResampling(nn.Module):
    """The plain baseline of a re-sampling layer: ``conv3x3(stride 2)`` (or ``conv3x3 -> pixel
    shuffle`` when ``transposed``), then GDN (IGDN) on the output. (N, Cin, H, W) -> (N, Cout,
    ceil(H/2), ceil(W/2)) or (N, Cout, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int, transposed: bool) -> None:
        super().__init__()
        if transposed:
            self.conv = nn.Sequential(nn.Conv2d(in_channels, out_channels * 4, 3, padding=1), nn.PixelShuffle(2))
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.norm = GDN(out_channels, inverse=transposed)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


def _resampling_layer(c: LICConfig, cin: int, cout: int, transposed: bool) -> nn.Module:
    # 2x down (stride 2, GDN) or 2x up (sub-pixel head, IGDN)
    sampling = {"upsample": "subpixel", "norm": "igdn"} if transposed else {"stride": 2, "norm": "gdn"}
    if c.transform == "weconv3d":
        return WeConv3D(cin, cout, c.wavelet, levels=c.levels, hf_kernel=c.hf_kernel, mode=c.mode, **sampling)
    if c.transform == "weconv2d":
        return WeConv2D(cin, cout, c.wavelet, mode=c.mode, **sampling)
    return ConvResampling(cin, cout, transposed)


def _make_entropy_model(c: LICConfig, hyper_channels: int) -> SliceEntropyModel:
    common = dict(
        context_channels=c.context_channels, width=c.width, param_width=c.param_width, wavelet=c.wavelet, mode=c.mode
    )
    if c.entropy == "3dwecharm":
        return ThreeDWeChARM(c.M, hyper_channels, **common)
    if c.entropy == "wecharm":
        return WeChARM(c.M, hyper_channels, ll_slices=c.wecharm_slices, hf_slices=c.wecharm_slices, **common)
    if c.entropy in ("chwp4", "chwp8"):
        return ChWP(c.M, hyper_channels, slices_per_band=1 if c.entropy == "chwp4" else 2, **common)
    raise ValueError(f"entropy must be one of {ENTROPY_MODELS}, got {c.entropy!r}")


class WeConveneLIC(CompressionModel):
    """3DM-WeConvene (see the module docstring). ``forward(x)`` -> ``{"x_hat", "likelihoods"}`` with
    ``likelihoods`` a flat dict ``{band: tensor, ..., "z": tensor}`` (CompressAI's losses sum them all).

    Coding: :meth:`encode` / :meth:`decode` work on the two streams ``[z, y]``;
    :meth:`compress` / :meth:`decompress` on the bytes of a ``.wlic`` file (:func:`compress_image`).
    """

    def __init__(self, config: LICConfig, name: str = "3dm-weconvene-custom", quality: int | float = 3) -> None:
        super().__init__()
        if config.M % 4 or config.N % 2:
            raise ValueError(f"M must be divisible by 4 and N by 2, got N={config.N}, M={config.M}")
        self.config = config
        self.name = name
        self.quality = quality
        N, M = config.N, config.M

        def down(cin: int, cout: int) -> nn.Module:
            return _resampling_layer(config, cin, cout, transposed=False)

        def up(cin: int, cout: int) -> nn.Module:
            return _resampling_layer(config, cin, cout, transposed=True)

        def block(c: int, i: int) -> nn.Module:
            if config.block == "chwdtb":
                return ChWDTB(c, num_heads=max(1, c // 32), window_size=8, shift=i % 2 == 1, wavelet=config.wavelet,
                              mode=config.mode)
            return ResidualBlock(c)

        def res(c: int) -> list[nn.Module]:
            return [block(c, i) for i in range(config.res_blocks)]

        def g_a_module(stage: int, kind: str, i: int) -> nn.Module:
            if kind == "down":
                return down(3 if stage == 0 else N, M if stage == 3 else N)
            return block(N, i) if kind == "block" else GatedResidualBlock(N)

        self.g_a = nn.Sequential(*(g_a_module(*entry) for entry in _g_a_layout(config)))
        self.g_s = nn.Sequential(
            up(M, N), *res(N), up(N, N), *res(N), up(N, N), *res(N),
            nn.Conv2d(N, 3 * 4, 3, padding=1), nn.PixelShuffle(2),
        )
        self.h_a = nn.Sequential(nn.Conv2d(M, N, 3, padding=1), nn.LeakyReLU(inplace=True), down(N, N), down(N, N))
        self.h_s = nn.Sequential(up(N, N), up(N, N), nn.Conv2d(N, M, 3, padding=1))
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.entropy_model = _make_entropy_model(config, hyper_channels=M)
        self.gains = GainUnits(M, N) if config.variable_rate else None
        self._fingerprint_cache: tuple[tuple, str] | None = None

    # --- rate -------------------------------------------------------------------------------------
    @property
    def quality(self) -> int | float:
        """The rate point used by ``forward`` / ``encode``: an index of :data:`LAMBDAS` (fixed-rate
        model) or any number in [1, 6] in steps of 0.001 (variable-rate model)."""
        return self._quality

    @quality.setter
    def quality(self, value: int | float) -> None:
        self._quality = check_quality(value, self.config.variable_rate)

    @property
    def variable_rate(self) -> bool:
        return self.config.variable_rate

    @property
    def lmbda(self) -> float:
        """The λ of :attr:`quality` (interpolated geometrically between the table's points)."""
        return lambda_of(self.quality)

    def _gains(self, quality: int | float | None) -> dict[str, Tensor] | None:
        if self.gains is None:
            if quality is not None and quality != self.quality:
                raise ValueError(f"this fixed-rate model codes quality {self.quality} only, got {quality!r}")
            return None
        return self.gains(self.quality if quality is None else check_quality(quality, True))

    @staticmethod
    def encoder_parameter(name: str) -> bool:
        """Whether the parameter ``name`` (of ``named_parameters()``) belongs to the encoder side only:
        ``g_a``, ``h_a`` and the forward gains ``y_gain`` / ``z_gain``. The rest decides what a
        bitstream decodes to."""
        return name.startswith(("g_a.", "h_a.")) or name in ("gains.y_gain", "gains.z_gain")

    # --- the four transforms, with the gains of a variable-rate model -----------------------------
    def analysis(self, x: Tensor, gains: dict[str, Tensor] | None) -> Tensor:
        """Padded image (N, 3, H, W) -> ``y`` (N, M, H/16, W/16), gained."""
        y = self.g_a(x)
        return y if gains is None else y * gains["y_gain"]

    def hyper_analysis(self, y: Tensor, gains: dict[str, Tensor] | None) -> Tensor:
        """``y`` (N, M, h, w) -> ``z`` (N, Z, h/4, w/4), gained."""
        z = self.h_a(y)
        return z if gains is None else z * gains["z_gain"]

    def hyper_synthesis(self, z_hat: Tensor, gains: dict[str, Tensor] | None) -> Tensor:
        """``ẑ`` (N, Z, h/4, w/4) -> hyper features (N, M, h, w) (inverse gain first)."""
        return self.h_s(z_hat if gains is None else z_hat * gains["z_inverse"])

    def synthesis(self, y_hat: Tensor, gains: dict[str, Tensor] | None) -> Tensor:
        """``ŷ`` (N, M, h, w) -> padded image (N, 3, 16h, 16w) (inverse gain first)."""
        return self.g_s(y_hat if gains is None else y_hat * gains["y_inverse"])

    # --- geometry ---------------------------------------------------------------------------------
    @staticmethod
    def padded_size(height: int, width: int) -> tuple[int, int]:
        m = PAD_MULTIPLE
        return (-(-height // m) * m, -(-width // m) * m)

    def _pad(self, x: Tensor) -> Tensor:
        ph, pw = self.padded_size(*x.shape[-2:])
        return extend_smoothly(x, ph, pw)

    @staticmethod
    def _check_image(x: Tensor, batch_one: bool) -> None:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(
                f"expected a float image tensor (N, 3, H, W), got "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
            )
        if batch_one and x.shape[0] != 1:
            raise ValueError(f"compress codes one image at a time (batch 1), got batch {x.shape[0]}")

    # --- training / estimation --------------------------------------------------------------------
    def _z_medians(self) -> Tensor:
        return self.entropy_bottleneck.quantiles[:, 0, 1].reshape(1, -1, 1, 1).detach()

    def forward(self, x: Tensor, quality: int | float | None = None) -> dict:
        """``x`` (N, 3, H, W) in [0, 1] -> ``{"x_hat": (N, 3, H, W), "likelihoods": {band: ..., "z": ...}}``
        at ``quality`` (default :attr:`quality`; another one only for a variable-rate model)."""
        self._check_image(x, batch_one=False)
        H, W = x.shape[-2:]
        gains = self._gains(quality)
        y = self.analysis(self._pad(x), gains)
        z = self.hyper_analysis(y, gains)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self._z_medians()
        z_hat = ste_round(z - medians) + medians
        y_hat, y_likelihoods = self.entropy_model(y, self.hyper_synthesis(z_hat, gains))
        x_hat = self.synthesis(y_hat, gains)[..., :H, :W]
        return {"x_hat": x_hat, "likelihoods": {**y_likelihoods, "z": z_likelihoods}}

    # --- real coding ------------------------------------------------------------------------------
    def _latent_sizes(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        ph, pw = self.padded_size(height, width)
        return (ph // 16, pw // 16), (ph // 64, pw // 64)

    def _synthesize(self, y_hat: Tensor, size: tuple[int, int], gains: dict[str, Tensor] | None) -> Tensor:
        x_hat = self.synthesis(y_hat, gains)[..., : size[0], : size[1]]
        # nan_to_num is the identity on real streams; it keeps a forged stream's image in [0, 1].
        return torch.nan_to_num(x_hat, nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)

    @torch.no_grad()
    def encode(
        self, x: Tensor, reconstruct: bool = True, quality: int | float | None = None
    ) -> tuple[list[bytes], Tensor | None]:
        """``x`` (1, 3, H, W) -> ``([z_stream, y_stream], x_hat)`` at ``quality`` (default
        :attr:`quality`); ``x_hat`` is exactly what :meth:`decode` will return for these streams
        (the encoder-side reconstruction), or None with ``reconstruct=False`` (which skips g_s)."""
        self._check_image(x, batch_one=True)
        H, W = x.shape[-2:]
        gains = self._gains(quality)
        y = self.analysis(self._pad(x), gains)
        z = self.hyper_analysis(y, gains)
        return self.encode_latents(y, z, H, W, gains, reconstruct)

    @torch.no_grad()
    def encode_latents(
        self, y: Tensor, z: Tensor, height: int, width: int, gains: dict[str, Tensor] | None, reconstruct: bool = True
    ) -> tuple[list[bytes], Tensor | None]:
        """Entropy-code the (gained) latents ``y`` (1, M, h, w), ``z`` (1, Z, h/4, w/4) of an image
        ``height`` x ``width`` -> ``([z_stream, y_stream], x_hat or None)``."""
        z_stream = self.entropy_bottleneck.compress(z)[0]
        with coding_threads():  # from here on, exactly what the decoder computes
            z_hat = self.entropy_bottleneck.decompress([z_stream], z.shape[-2:])
            y_stream, y_hat = self.entropy_model.compress(y, self.hyper_synthesis(z_hat, gains))
            return [z_stream, y_stream], self._synthesize(y_hat, (height, width), gains) if reconstruct else None

    @torch.no_grad()
    def decode(self, streams: list[bytes], height: int, width: int, quality: int | float | None = None) -> Tensor:
        """Inverse of :meth:`encode` (at the same ``quality``): ``x_hat`` (1, 3, height, width) in [0, 1]."""
        if len(streams) != 2:
            raise ValueError(f"expected 2 streams (z, y), got {len(streams)}")
        y_size, z_size = self._latent_sizes(height, width)
        z_symbols = self.entropy_bottleneck.channels * z_size[0] * z_size[1]
        y_symbols = self.entropy_model.latent_channels * y_size[0] * y_size[1]
        check_stream_capacity(streams, [z_symbols, y_symbols], ["z stream", "y stream"])
        gains = self._gains(quality)
        with coding_threads():
            z_hat = self.entropy_bottleneck.decompress([guarded_stream(streams[0], z_symbols)], z_size)
            if float(z_hat.abs().max()) > MAX_SYMBOL:
                raise ValueError(f"corrupt z stream: it decodes to a value beyond +-{MAX_SYMBOL}")
            y_hat = self.entropy_model.decompress(streams[1], self.hyper_synthesis(z_hat, gains), y_size)
            return self._synthesize(y_hat, (height, width), gains)

    def compress(self, x: Tensor) -> bytes:
        """``x`` (1, 3, H, W) in [0, 1] -> the bytes of a ``.wlic`` file."""
        return compress_image(self, x, reconstruct=False)[0]

    def decompress(self, data: bytes) -> Tensor:
        """Bytes of a ``.wlic`` file written by this model -> ``x_hat`` (1, 3, H, W) in [0, 1]."""
        return decompress_image(self, data)

    # --- identity ---------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """SHA-256 (hex) of every parameter and buffer (CDF tables included), cached until one changes."""
        tensors = sorted(
            [*self.named_parameters(), *self.named_buffers()], key=lambda kv: kv[0]
        )
        key = tuple((k, id(t), t._version, tuple(t.shape)) for k, t in tensors)
        if self._fingerprint_cache is not None and self._fingerprint_cache[0] == key:
            return self._fingerprint_cache[1]
        h = hashlib.sha256()
        for k, t in tensors:
            h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        digest = h.hexdigest()
        self._fingerprint_cache = (key, digest)
        return digest

    @property
    def model_id(self) -> str:
        """``<name>@<first 12 hex digits of the weights' fingerprint>``: the file header's model id."""
        return f"{self.name}@{self.fingerprint()[:12]}"

    def describe(self) -> dict:
        """Name, quality, lambda, architecture and parameter count, JSON-serialisable."""
        return {
            "name": self.name, "quality": self.quality, "lambda": self.lmbda, "variable_rate": self.variable_rate,
            "config": asdict(self.config), "parameters": sum(p.numel() for p in self.parameters()),
        }


def to_variable_rate(model: WeConveneLIC, quality: int | float = 3, gain_init: str = "ones") -> WeConveneLIC:
    """A variable-rate copy of the fixed-rate ``model``: the same weights, name ``<name>-vr``, gain
    units at 1 (``gain_init="ones"``: every quality codes as ``model`` does until trained) or, with
    ``"lambda"``, y gains ``sqrt(λ_s / λ_model)`` (:meth:`.gains.GainUnits.init_from_lambda`)."""
    if model.variable_rate:
        raise ValueError(f"{model.name} is already a variable-rate model")
    if gain_init not in GAIN_INITS:
        raise ValueError(f"gain_init must be one of {GAIN_INITS}, got {gain_init!r}")
    vr = WeConveneLIC(replace(model.config, variable_rate=True), name=model.name + VARIABLE_RATE_SUFFIX,
                      quality=quality)
    missing, unexpected = vr.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("gains.") for k in missing):
        raise ValueError(f"cannot convert {model.name}: missing {missing}, unexpected {unexpected}")
    if gain_init == "lambda":
        vr.gains.init_from_lambda(model.quality)
    return vr.to(next(model.parameters()).device).train(model.training)


def _g_a_layout(config: LICConfig) -> list[tuple[int, str, int]]:
    """``(stage, kind, index within the stage's kind)`` of each module of ``g_a`` in order; kind is
    ``'down'``, ``'block'`` or ``'extra'`` (an :attr:`LICConfig.encoder_blocks` block)."""
    layout = []
    for stage in range(3):
        layout += [(stage, "down", 0)] + [(stage, "block", i) for i in range(config.res_blocks)]
        layout += [(stage, "extra", i) for i in range(config.encoder_blocks)]
    return layout + [(3, "down", 0)]


def deepen_encoder(model: WeConveneLIC, blocks: int = 1) -> WeConveneLIC:
    """A copy of ``model`` with ``blocks`` more :class:`GatedResidualBlock` in each of the first three
    g_a stages (:attr:`LICConfig.encoder_blocks`), each starting as the identity (gate at zero), so
    the copy codes every image exactly as ``model`` does until it is trained. Name
    ``<name>-encoder_blocks=<total>``; every other weight, the decoder included, is carried over."""
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
        raise ValueError(f"blocks must be an int >= 1, got {blocks!r}")
    old = model.config
    config = replace(old, encoder_blocks=old.encoder_blocks + blocks)
    base = model.name.split("-encoder_blocks=")[0]
    deeper = WeConveneLIC(config, name=f"{base}-encoder_blocks={config.encoder_blocks}", quality=model.quality)
    position = {entry: i for i, entry in enumerate(_g_a_layout(config))}
    moved = {i: position[entry] for i, entry in enumerate(_g_a_layout(old))}
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("g_a."):
            _, index, rest = key.split(".", 2)
            key = f"g_a.{moved[int(index)]}.{rest}"
        state[key] = value
    missing, unexpected = deeper.load_state_dict(state, strict=False)
    added = {f"g_a.{position[(stage, 'extra', i)]}." for stage in range(3)
             for i in range(old.encoder_blocks, config.encoder_blocks)}
    if unexpected or any(not k.startswith(tuple(added)) for k in missing):
        raise ValueError(f"cannot deepen {model.name}: missing {missing}, unexpected {unexpected}")
    return deeper.to(next(model.parameters()).device).train(model.training)


def compress_image(
    model: WeConveneLIC, x: Tensor, reconstruct: bool = True, quality: int | float | None = None
) -> tuple[bytes, Tensor | None]:
    """``x`` (1, 3, H, W) in [0, 1] -> ``(file bytes, encoder-side reconstruction)`` (None for the
    reconstruction with ``reconstruct=False``, which skips the synthesis transform), at ``quality``
    (default the model's; another one only for a variable-rate model).

    A file is the container of :mod:`..compression.container`: magic ``WLIC``, format version,
    header (model id, quality, original height / width, channels), the streams ``[z, y]`` with
    their lengths, and a CRC32. The model id is ``<model name>@<weights fingerprint>``, so a file
    only decodes with the very weights (and CDF tables) that wrote it; the quality (fractional for
    a variable-rate model) is all the decoder needs besides."""
    quality = model.quality if quality is None else check_quality(quality, model.variable_rate)
    streams, x_hat = model.encode(x, reconstruct=reconstruct, quality=quality)
    return pack(file_header(model, x.shape[-2], x.shape[-1], quality), streams), x_hat


def file_header(model: WeConveneLIC, height: int, width: int, quality: int | float | None = None) -> Header:
    """The ``.wlic`` header of an image ``height`` x ``width`` coded by ``model`` at ``quality``
    (default its own)."""
    quality = model.quality if quality is None else quality
    return Header(model_id=model.model_id, quality=quality, height=height, width=width, channels=3)


def decompress_image(model: WeConveneLIC, data: bytes) -> Tensor:
    """File bytes -> ``x_hat`` (1, 3, H, W); raises :class:`BitstreamError` for foreign or broken data.
    A variable-rate model decodes at the file's quality (its own :attr:`quality` is left as it is)."""
    header, streams = unpack(data, expected_model_id=model.model_id)
    if header.channels != 3:
        raise BitstreamError(f"unsupported channel count {header.channels} (this codec writes 3)")
    try:
        quality = check_quality(header.quality, model.variable_rate)
    except ValueError as e:
        raise BitstreamError(f"invalid quality in the file: {e}") from None
    if not model.variable_rate and quality != model.quality:
        raise BitstreamError(f"quality mismatch: the file says {header.quality}, the model is quality {model.quality}")
    try:
        return model.decode(streams, header.height, header.width, quality=quality)
    except ValueError as e:
        raise BitstreamError(str(e)) from None


for _name in model_names():
    register_model(_name, partial(build_model, _name), integration=__package__.rpartition(".")[2])
