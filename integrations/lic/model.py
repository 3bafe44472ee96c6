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

Any image size: the input is padded on the bottom / right to a multiple of 64 by edge replication
(cheaper to code than zeros, which add an edge), and the output is cropped back.
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

__all__ = [
    "LICConfig", "WeConveneLIC", "PRESETS", "ENTROPY_MODELS", "LAMBDAS", "build_model", "model_names",
    "parse_model_name", "model_name", "model_config", "FAMILIES", "TRANSFORMS", "BLOCKS", "PAD_MULTIPLE",
    "compress_image", "decompress_image",
]

PAD_MULTIPLE = 64
# Threads for everything the decoder recomputes (h_s, entropy parameters, g_s). oneDNN convolutions
# change their summation order with the thread count, so the encoder's and the decoder's entropy
# parameters (and images) agree bit for bit only if both use the same count: one, always.
CODING_THREADS = 1
# Quality index -> lambda of the MSE-optimised models (paper section III-C; loss = lambda * 255^2 * MSE + bpp).
LAMBDAS = {1: 0.0025, 2: 0.0035, 3: 0.0067, 4: 0.013, 5: 0.025, 6: 0.05}
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
    windows on every second block).
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

    def __post_init__(self) -> None:
        for name, allowed in (("entropy", ENTROPY_MODELS), ("transform", TRANSFORMS), ("block", BLOCKS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.hf_kernel not in (1, 3):
            raise ValueError(f"hf_kernel must be 1 or 3, got {self.hf_kernel!r}")


PRESETS = {
    "paper": LICConfig(N=128, M=320, context_channels=192, width=192, param_width=192, wecharm_slices=5),
    "small": LICConfig(N=64, M=128, context_channels=64, width=64, param_width=64, wecharm_slices=4),
    # For tests only: a few thousand parameters per layer, 1-level WeConv.
    "tiny": LICConfig(N=16, M=32, levels=1, context_channels=16, width=16, param_width=16, wecharm_slices=4),
}


def model_name(family: str, preset: str, entropy: str | None = None) -> str:
    """``('chwdta', 'small', 'chwp4')`` -> ``'chwdta-small-chwp4'`` (the family's default entropy
    model is left out of the name)."""
    default = FAMILIES[family][1][0]
    return f"{family}-{preset}" + ("" if entropy in (None, default) else f"-{entropy}")


def model_names() -> list[str]:
    """All registered model names: ``<family>-<preset>[-<entropy model>]``, e.g.
    ``3dm-weconvene-small``, ``3dm-weconvene-small-wecharm``, ``chwdta-small``, ``chwdta-small-chwp4``."""
    return [model_name(f, p, e) for f, (_, entropies) in FAMILIES.items() for p in PRESETS for e in entropies]


def parse_model_name(name: str) -> tuple[str, str, str]:
    """``'3dm-weconvene-small-chwp8'`` -> ``('3dm-weconvene', 'small', 'chwp8')``."""
    if name not in model_names():
        raise ValueError(f"unknown model {name!r}: expected one of {model_names()}")
    family = next(f for f in FAMILIES if name.startswith(f + "-"))
    parts = name[len(family) + 1:].split("-")
    return family, parts[0], parts[1] if len(parts) > 1 else FAMILIES[family][1][0]


def model_config(name: str, **changes) -> LICConfig:
    """The :class:`LICConfig` of a registered model name, with ``changes`` (ablations) applied."""
    family, preset, entropy = parse_model_name(name)
    known = {f.name for f in fields(LICConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValueError(f"unknown LICConfig fields {unknown}: expected some of {sorted(known)}")
    return replace(PRESETS[preset], **{**FAMILIES[family][0], "entropy": entropy, **changes})


def _check_quality(quality: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, int) or quality not in LAMBDAS:
        raise ValueError(f"quality must be one of {sorted(LAMBDAS)}, got {quality!r}")
    return quality


def build_model(name: str, quality: int = 3, seed: int | None = None) -> "WeConveneLIC":
    """A registered model with a deterministic initialisation (``seed`` defaults to one derived from
    ``name`` and ``quality``), CDF tables built and ready to code. Untrained: load a checkpoint for
    meaningful images (:func:`.checkpoint.load_checkpoint`)."""
    config = model_config(name)
    _check_quality(quality)
    if seed is None:
        seed = int.from_bytes(hashlib.sha256(f"{name}/{quality}".encode()).digest()[:4], "little")
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

    def __init__(self, config: LICConfig, name: str = "3dm-weconvene-custom", quality: int = 3) -> None:
        super().__init__()
        if config.M % 4 or config.N % 2:
            raise ValueError(f"M must be divisible by 4 and N by 2, got N={config.N}, M={config.M}")
        self.config = config
        self.name = name
        self.quality = _check_quality(quality)
        N, M = config.N, config.M

        def down(cin: int, cout: int) -> nn.Module:
            return _resampling_layer(config, cin, cout, transposed=False)

        def up(cin: int, cout: int) -> nn.Module:
            return _resampling_layer(config, cin, cout, transposed=True)

        def res(c: int) -> list[nn.Module]:
            if config.block == "chwdtb":
                heads = max(1, c // 32)
                return [ChWDTB(c, num_heads=heads, window_size=8, shift=i % 2 == 1, wavelet=config.wavelet,
                               mode=config.mode) for i in range(config.res_blocks)]
            return [ResidualBlock(c) for _ in range(config.res_blocks)]

        self.g_a = nn.Sequential(
            down(3, N), *res(N), down(N, N), *res(N), down(N, N), *res(N), down(N, M),
        )
        self.g_s = nn.Sequential(
            up(M, N), *res(N), up(N, N), *res(N), up(N, N), *res(N),
            nn.Conv2d(N, 3 * 4, 3, padding=1), nn.PixelShuffle(2),
        )
        self.h_a = nn.Sequential(nn.Conv2d(M, N, 3, padding=1), nn.LeakyReLU(inplace=True), down(N, N), down(N, N))
        self.h_s = nn.Sequential(up(N, N), up(N, N), nn.Conv2d(N, M, 3, padding=1))
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.entropy_model = _make_entropy_model(config, hyper_channels=M)
        self._fingerprint_cache: tuple[tuple, str] | None = None

    # --- geometry ---------------------------------------------------------------------------------
    @staticmethod
    def padded_size(height: int, width: int) -> tuple[int, int]:
        m = PAD_MULTIPLE
        return (-(-height // m) * m, -(-width // m) * m)

    def _pad(self, x: Tensor) -> Tensor:
        H, W = x.shape[-2:]
        ph, pw = self.padded_size(H, W)
        if (ph, pw) == (H, W):
            return x
        return F.pad(x, (0, pw - W, 0, ph - H), mode="replicate")

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

    def forward(self, x: Tensor) -> dict:
        """``x`` (N, 3, H, W) in [0, 1] -> ``{"x_hat": (N, 3, H, W), "likelihoods": {band: ..., "z": ...}}``."""
        self._check_image(x, batch_one=False)
        H, W = x.shape[-2:]
        y = self.g_a(self._pad(x))
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self._z_medians()
        z_hat = ste_round(z - medians) + medians
        y_hat, y_likelihoods = self.entropy_model(y, self.h_s(z_hat))
        x_hat = self.g_s(y_hat)[..., :H, :W]
        return {"x_hat": x_hat, "likelihoods": {**y_likelihoods, "z": z_likelihoods}}

    # --- real coding ------------------------------------------------------------------------------
    def _latent_sizes(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        ph, pw = self.padded_size(height, width)
        return (ph // 16, pw // 16), (ph // 64, pw // 64)

    def _synthesize(self, y_hat: Tensor, size: tuple[int, int]) -> Tensor:
        x_hat = self.g_s(y_hat)[..., : size[0], : size[1]]
        # nan_to_num is the identity on real streams; it keeps a forged stream's image in [0, 1].
        return torch.nan_to_num(x_hat, nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)

    @torch.no_grad()
    def encode(self, x: Tensor, reconstruct: bool = True) -> tuple[list[bytes], Tensor | None]:
        """``x`` (1, 3, H, W) -> ``([z_stream, y_stream], x_hat)``; ``x_hat`` is exactly what
        :meth:`decode` will return for these streams (the encoder-side reconstruction), or None
        with ``reconstruct=False`` (which skips g_s)."""
        self._check_image(x, batch_one=True)
        H, W = x.shape[-2:]
        y = self.g_a(self._pad(x))
        z = self.h_a(y)
        z_stream = self.entropy_bottleneck.compress(z)[0]
        with coding_threads():  # from here on, exactly what the decoder computes
            z_hat = self.entropy_bottleneck.decompress([z_stream], z.shape[-2:])
            y_stream, y_hat = self.entropy_model.compress(y, self.h_s(z_hat))
            return [z_stream, y_stream], self._synthesize(y_hat, (H, W)) if reconstruct else None

    @torch.no_grad()
    def decode(self, streams: list[bytes], height: int, width: int) -> Tensor:
        """Inverse of :meth:`encode`: ``x_hat`` (1, 3, height, width) in [0, 1]."""
        if len(streams) != 2:
            raise ValueError(f"expected 2 streams (z, y), got {len(streams)}")
        y_size, z_size = self._latent_sizes(height, width)
        z_symbols = self.entropy_bottleneck.channels * z_size[0] * z_size[1]
        y_symbols = self.entropy_model.latent_channels * y_size[0] * y_size[1]
        check_stream_capacity(streams, [z_symbols, y_symbols], ["z stream", "y stream"])
        with coding_threads():
            z_hat = self.entropy_bottleneck.decompress([guarded_stream(streams[0], z_symbols)], z_size)
            if float(z_hat.abs().max()) > MAX_SYMBOL:
                raise ValueError(f"corrupt z stream: it decodes to a value beyond +-{MAX_SYMBOL}")
            y_hat = self.entropy_model.decompress(streams[1], self.h_s(z_hat), y_size)
            return self._synthesize(y_hat, (height, width))

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
            "name": self.name, "quality": self.quality, "lambda": LAMBDAS[self.quality],
            "config": asdict(self.config), "parameters": sum(p.numel() for p in self.parameters()),
        }


def compress_image(model: WeConveneLIC, x: Tensor, reconstruct: bool = True) -> tuple[bytes, Tensor | None]:
    """``x`` (1, 3, H, W) in [0, 1] -> ``(file bytes, encoder-side reconstruction)`` (None for the
    reconstruction with ``reconstruct=False``, which skips the synthesis transform).

    A file is the container of :mod:`..compression.container`: magic ``WLIC``, format version,
    header (model id, quality, original height / width, channels), the streams ``[z, y]`` with
    their lengths, and a CRC32. The model id is ``<model name>@<weights fingerprint>``, so a file
    only decodes with the very weights (and CDF tables) that wrote it."""
    streams, x_hat = model.encode(x, reconstruct=reconstruct)
    header = Header(model_id=model.model_id, quality=model.quality, height=x.shape[-2], width=x.shape[-1], channels=3)
    return pack(header, streams), x_hat


def decompress_image(model: WeConveneLIC, data: bytes) -> Tensor:
    """File bytes -> ``x_hat`` (1, 3, H, W); raises :class:`BitstreamError` for foreign or broken data."""
    header, streams = unpack(data, expected_model_id=model.model_id)
    if header.channels != 3:
        raise BitstreamError(f"unsupported channel count {header.channels} (this codec writes 3)")
    if header.quality != model.quality:
        raise BitstreamError(f"quality mismatch: the file says {header.quality}, the model is quality {model.quality}")
    try:
        return model.decode(streams, header.height, header.width)
    except ValueError as e:
        raise BitstreamError(str(e)) from None


for _name in model_names():
    register_model(_name, partial(build_model, _name), integration=__package__.rpartition(".")[2])
