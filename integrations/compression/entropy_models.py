"""Slice-wise wavelet-domain entropy models for a latent ``y``: 3DWeChARM, WeChARM and ChWP.

All three code ``y`` (N, M, h, w) as an ordered list of *slices* on a common grid, each slice
conditioned on the hyperprior and on every earlier slice (channel-wise autoregression). They
differ only in how ``y`` becomes slices (``split`` / ``merge``) and on which grid they live:

* :class:`ThreeDWeChARM` (3DM-WeConvene, section III-B): a 1-level channel DWT ``[L | H]`` then a
  1-level spatial DWT of every channel: 8 sub-bands of ``M/2`` channels on the ``ceil(h/2) x
  ceil(w/2)`` grid, named ``<channel band><spatial band>``: ``LLL, LLH, LHL, LHH, HLL, HLH, HHL,
  HHH``. The spatial letters follow PyWavelets' detail order ``(cH, cV, cD) = (LH, HL, HH)``:
  ``LH`` is high-pass along the height, ``HL`` along the width. Coding order (10 slices)::

      LLL0 LLL1 HLL0 HLL1 | LLH LHL LHH | HLH HHL HHH      (M/4 x4, then M/2 x6 channels)

  Spatially-low bands first (channel-low before channel-high), then the spatial details of the
  channel-low half, then those of the channel-high half: the order of decreasing energy and rate
  reported in the paper's Table V, so the richest priors are decoded first.
* :class:`WeChARM` (WeConvene, ECCV 2024): spatial DWT only. ``LL`` (M channels) in
  ``ll_slices`` slices first, then the detail bands in ``hf_slices`` slices, slice ``k`` holding
  channel chunk ``k`` of ``LH``, ``HL`` and ``HH`` (``3M/hf_slices`` channels).
* :class:`ChWP` (ChWDTA): a 2-level channel wavelet packet, 4 equal channel bands ``LL, LH, HL,
  HH`` of ``M/4`` channels on the latent grid itself, ``slices_per_band`` (1 or 2) slices each.

Hyperprior context: the hyperprior features (N, C_hyper, h, w) at the latent resolution are brought
onto the slice grid by the *same* spatial DWT as ``y`` (the four spatial bands concatenated along
channels: a lossless, parameter-free re-arrangement aligned position by position with the
sub-bands), then one shared 1x1 conv gives ``context_channels``. ChWP's grid is the latent grid.

Per slice (:class:`SliceCoder`, the paper's e_Slice): ``support = [context, earlier slices]`` ->
attention net (a convolutional attention block: residual trunk gated by a sigmoid mask) -> parameter
net (1x1 convs) -> means, scales; the slice is quantised as ``round(y - mean) + mean``; latent
residual prediction (1x1 convs on ``[attention features, y_hat]``, ``0.5 tanh``) is added.

Bit-exactness: encoder and decoder run the same loop (:meth:`SliceEntropyModel._code_slices`) on
the same tensors (batch 1, identical shapes and op order); the decoder's slices are
``symbols + means`` exactly as the encoder's, so its ``y_hat`` equals the encoder's bit for bit on a
given machine and software build, provided both run the hyperprior and this model with the same
intra-op thread count (oneDNN convolutions sum in a thread-count dependent order; the image codec
pins one thread: :func:`integrations.lic.model.coding_threads`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from wavelayers import ChannelDWT, ChannelIDWT, ChannelWaveletPacket, ChannelWaveletPacketInverse
from wavelayers import band_length, dwt2d, idwt2d
from wavelayers.operators import check_mode
from wavelayers.wavelets import canonical_name

from .compressai_parts import BufferedRansEncoder, GaussianConditional, RansDecoder, get_scale_table


__all__ = ["SliceSpec", "SliceCoder", "SliceEntropyModel", "ThreeDWeChARM", "WeChARM", "ChWP", "ste_round",
           "guarded_stream", "MAX_SYMBOL"]

# Zero bytes appended to a stream before rANS decoding: CompressAI's decoder reads 32-bit words without
# a bounds check, so a forged stream could otherwise read past its buffer. Valid streams ignore the tail.
_DECODE_GUARD_BYTES_PER_SYMBOL = 4
_DECODE_GUARD_MIN_BYTES = 4096
# No real latent comes near this magnitude; a decoded symbol beyond it means a forged or foreign stream.
MAX_SYMBOL = 2**16


def ste_round(x: Tensor) -> Tensor:
    """``round(x)`` in the forward pass, identity gradient (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def guarded_stream(stream: bytes, num_symbols: int) -> bytes:
    """``stream`` followed by zero bytes, so that decoding a forged stream stays inside the buffer."""
    return stream + bytes(max(_DECODE_GUARD_MIN_BYTES, _DECODE_GUARD_BYTES_PER_SYMBOL * num_symbols))


@dataclass(frozen=True)
class SliceSpec:
    """One coded slice: ``name`` and its ``parts`` ``((band, channels), ...)`` in channel order."""

    name: str
    parts: tuple[tuple[str, int], ...]

    @property
    def channels(self) -> int:
        return sum(c for _, c in self.parts)


def _conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1)


class _ResidualUnit(nn.Module):
    """``x + conv1x1(act(conv3x3(act(conv1x1(x)))))`` with a ``channels/2`` bottleneck."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = max(1, channels // 2)
        self.body = nn.Sequential(
            _conv1x1(channels, mid), nn.GELU(), nn.Conv2d(mid, mid, 3, padding=1), nn.GELU(), _conv1x1(mid, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ConvAttention(nn.Module):
    """Attention net of a slice: ``x = proj(support)``; ``x + trunk(x) * sigmoid(mask(x))``.

    (N, C_in, h, w) -> (N, width, h, w). Local (3x3) context only, no batch- or image-wide
    statistics, so the output at a position does not depend on the image size or the batch.
    """

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.proj = _conv1x1(in_channels, width)
        self.trunk = _ResidualUnit(width)
        self.mask = nn.Sequential(_ResidualUnit(width), _conv1x1(width, width))

    def forward(self, support: Tensor) -> Tensor:
        x = self.proj(support)
        return x + self.trunk(x) * torch.sigmoid(self.mask(x))


class SliceCoder(nn.Module):
    """e_Slice: attention net, parameter net (means, scales) and latent residual prediction (LRP)."""

    def __init__(self, support_channels: int, slice_channels: int, width: int, param_width: int) -> None:
        super().__init__()
        self.slice_channels = slice_channels
        self.attention = ConvAttention(support_channels, width)
        self.params = nn.Sequential(
            _conv1x1(width, param_width), nn.GELU(),
            _conv1x1(param_width, param_width), nn.GELU(),
            _conv1x1(param_width, 2 * slice_channels),
        )
        self.lrp = nn.Sequential(
            _conv1x1(width + slice_channels, param_width), nn.GELU(), _conv1x1(param_width, slice_channels)
        )

    def entropy_parameters(self, support: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``support`` (N, S, h, w) -> ``(features, means, scales)``; means/scales (N, c, h, w)."""
        features = self.attention(support)
        means, scales = self.params(features).chunk(2, dim=1)
        return features, means, scales

    def residual(self, features: Tensor, y_hat: Tensor) -> Tensor:
        """LRP: the predicted quantisation residual ``0.5 tanh(lrp([features, y_hat]))``."""
        return 0.5 * torch.tanh(self.lrp(torch.cat((features, y_hat), dim=1)))


class SliceEntropyModel(nn.Module):
    """Channel-wise autoregressive Gaussian entropy model over an ordered list of slices.

    Subclasses define ``slices`` (coding order), :meth:`split`, :meth:`merge`, :meth:`grid_size`,
    :meth:`to_grid` (hyperprior features onto the slice grid, ``grid_bands`` x the channels) and
    ``low_frequency_bands`` (the bands weighted by ``w1`` in stage-2 training).

    Args:
        latent_channels: ``M``, channels of ``y``.
        hyper_channels: channels of the hyperprior features passed to ``forward``/``compress``.
        context_channels: channels of the shared hyperprior context on the slice grid.
        width, param_width: widths of the attention net and of the parameter / LRP nets.
    """

    slices: tuple[SliceSpec, ...]
    low_frequency_bands: tuple[str, ...]
    grid_bands: int

    def __init__(
        self, latent_channels: int, hyper_channels: int, context_channels: int, width: int, param_width: int
    ) -> None:
        super().__init__()
        for name, value in (
            ("latent_channels", latent_channels), ("hyper_channels", hyper_channels),
            ("context_channels", context_channels), ("width", width), ("param_width", param_width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.latent_channels = latent_channels
        self.hyper_channels = hyper_channels
        self.gaussian = GaussianConditional(None)
        self.context = _conv1x1(hyper_channels * self.grid_bands, context_channels)
        coders = []
        support = context_channels
        for spec in self.slices:
            coders.append(SliceCoder(support, spec.channels, width, param_width))
            support += spec.channels
        self.coders = nn.ModuleList(coders)

    # --- how y becomes slices (subclass hooks) -------------------------------------------------
    def split(self, y: Tensor) -> list[Tensor]:
        """``y`` (N, M, h, w) -> slices in coding order, slice ``i`` of shape (N, c_i, *grid)."""
        raise NotImplementedError

    def merge(self, slices: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        """Inverse of :meth:`split`; ``size`` is ``y``'s ``(h, w)``."""
        raise NotImplementedError

    def grid_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Slice grid ``(h', w')`` for a latent of spatial ``size``."""
        raise NotImplementedError

    def to_grid(self, hyper: Tensor) -> Tensor:
        """Hyperprior features (N, C, h, w) -> (N, grid_bands * C, *grid)."""
        raise NotImplementedError

    # --- shared machinery ------------------------------------------------------------------------
    @property
    def bands(self) -> tuple[str, ...]:
        """Band names in coding order (the keys of the likelihood dict)."""
        names: list[str] = []
        for spec in self.slices:
            names += [band for band, _ in spec.parts if band not in names]
        return tuple(names)

    def update(self, force: bool = False) -> bool:
        """Build the Gaussian CDF tables (CompressAI's default 64-scale table) for entropy coding."""
        return self.gaussian.update_scale_table(get_scale_table(), force=force)

    def _check_inputs(self, y: Tensor | None, hyper: Tensor, size: tuple[int, int]) -> None:
        if hyper.dim() != 4 or hyper.shape[1] != self.hyper_channels or tuple(hyper.shape[-2:]) != tuple(size):
            raise ValueError(
                f"hyper must have shape (N, {self.hyper_channels}, {size[0]}, {size[1]}), got {tuple(hyper.shape)}"
            )
        if y is not None and (y.dim() != 4 or y.shape[1] != self.latent_channels or y.shape[0] != hyper.shape[0]):
            raise ValueError(
                f"y must have shape (N={hyper.shape[0]}, {self.latent_channels}, h, w), got {tuple(y.shape)}"
            )

    def _code_slices(self, hyper: Tensor, code: Callable[[int, Tensor, Tensor], Tensor]) -> list[Tensor]:
        """The one slice loop. ``code(i, means, scales)`` returns slice ``i`` quantised (before LRP);
        returns the reconstructed slices (LRP added), each conditioning all later ones."""
        context = self.context(self.to_grid(hyper))
        decoded: list[Tensor] = []
        for i, coder in enumerate(self.coders):
            support = torch.cat([context, *decoded], dim=1)
            features, means, scales = coder.entropy_parameters(support)
            y_hat = code(i, means, scales)
            decoded.append(y_hat + coder.residual(features, y_hat))
        return decoded

    def band_likelihoods(self, slice_likelihoods: Sequence[Tensor]) -> dict[str, Tensor]:
        """Per-slice likelihoods -> ``{band: (N, channels of band, *grid)}`` in coding order."""
        per_band: dict[str, list[Tensor]] = {}
        for spec, lik in zip(self.slices, slice_likelihoods):
            start = 0
            for band, c in spec.parts:
                per_band.setdefault(band, []).append(lik[:, start : start + c])
                start += c
        return {band: torch.cat(parts, dim=1) if len(parts) > 1 else parts[0] for band, parts in per_band.items()}

    def forward(self, y: Tensor, hyper: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Training / estimation pass: ``(y_hat (N, M, h, w), {band: likelihoods})``.

        Likelihoods use uniform noise in training mode and rounding in eval mode (CompressAI's
        GaussianConditional); ``y_hat`` uses ``round(y - mean) + mean`` with a straight-through gradient.
        """
        size = (y.shape[-2], y.shape[-1])
        self._check_inputs(y, hyper, size)
        y_slices = self.split(y)
        likelihoods: list[Tensor] = []

        def code(i: int, means: Tensor, scales: Tensor) -> Tensor:
            _, lik = self.gaussian(y_slices[i], scales, means)
            likelihoods.append(lik)
            return ste_round(y_slices[i] - means) + means

        y_hat = self.merge(self._code_slices(hyper, code), size)
        return y_hat, self.band_likelihoods(likelihoods)

    def _tables(self) -> tuple[list[list[int]], list[int], list[int]]:
        g = self.gaussian
        if g.quantized_cdf.numel() == 0:
            raise RuntimeError("the entropy model has no CDF tables: call update() (or the model's update()) first")
        return g.quantized_cdf.tolist(), g.cdf_length.reshape(-1).int().tolist(), g.offset.reshape(-1).int().tolist()

    @torch.no_grad()
    def compress(self, y: Tensor, hyper: Tensor) -> tuple[bytes, Tensor]:
        """Entropy-code ``y`` (1, M, h, w): returns ``(stream, y_hat)``, ``y_hat`` as the decoder will see it."""
        size = (y.shape[-2], y.shape[-1])
        self._check_inputs(y, hyper, size)
        if y.shape[0] != 1:
            raise ValueError(f"compress codes one latent at a time (batch 1), got batch {y.shape[0]}")
        cdfs, lengths, offsets = self._tables()
        encoder = BufferedRansEncoder()
        y_slices = self.split(y)

        def code(i: int, means: Tensor, scales: Tensor) -> Tensor:
            indexes = self.gaussian.build_indexes(scales)
            symbols = self.gaussian.quantize(y_slices[i], "symbols", means)
            encoder.encode_with_indexes(
                symbols.reshape(-1).tolist(), indexes.reshape(-1).tolist(), cdfs, lengths, offsets
            )
            return self.gaussian.dequantize(symbols, means)

        decoded = self._code_slices(hyper, code)
        return encoder.flush(), self.merge(decoded, size)

    @torch.no_grad()
    def decompress(self, stream: bytes, hyper: Tensor, size: tuple[int, int]) -> Tensor:
        """Inverse of :meth:`compress`: ``y_hat`` (1, M, *size) from the stream and the same ``hyper``."""
        self._check_inputs(None, hyper, size)
        if hyper.shape[0] != 1:
            raise ValueError(f"decompress decodes one latent at a time (batch 1), got batch {hyper.shape[0]}")
        cdfs, lengths, offsets = self._tables()
        grid = self.grid_size(size)
        decoder = RansDecoder()
        decoder.set_stream(guarded_stream(stream, self.latent_channels * size[0] * size[1]))

        def code(i: int, means: Tensor, scales: Tensor) -> Tensor:
            indexes = self.gaussian.build_indexes(scales)
            values = decoder.decode_stream(indexes.reshape(-1).tolist(), cdfs, lengths, offsets)
            symbols = torch.tensor(values, dtype=torch.int32).reshape(1, self.slices[i].channels, *grid)
            if symbols.numel() and int(symbols.abs().max()) > MAX_SYMBOL:
                raise ValueError(
                    f"corrupt y stream: slice {self.slices[i].name} decodes to a symbol beyond +-{MAX_SYMBOL}"
                )
            return self.gaussian.dequantize(symbols.to(means.device), means)

        return self.merge(self._code_slices(hyper, code), size)


# --- spatial 1-level DWT helpers shared by 3DWeChARM and WeChARM -------------------------------------
def _check_wavelet(wavelet: str, mode: str) -> tuple[str, str]:
    name = canonical_name(wavelet)
    if mode not in ("jpeg2000", "periodization"):
        raise ValueError(f"the entropy models need a non-expansive mode ('jpeg2000' or 'periodization'), got {mode!r}")
    return name, check_mode(mode, name)


_SPATIAL = ("LL", "LH", "HL", "HH")  # LL, then PyWavelets' (cH, cV, cD)


class _SpatialGrid(SliceEntropyModel):
    grid_bands = 4

    def __init__(self, latent_channels: int, hyper_channels: int, context_channels: int, width: int,
                 param_width: int, wavelet: str, mode: str) -> None:
        self.wavelet, self.mode = _check_wavelet(wavelet, mode)
        super().__init__(latent_channels, hyper_channels, context_channels, width, param_width)

    def _spatial(self, t: Tensor) -> dict[str, Tensor]:
        ll, highs = dwt2d(t, self.wavelet, levels=1, mode=self.mode)
        h = highs[0]
        return {"LL": ll, "LH": h[:, :, 0], "HL": h[:, :, 1], "HH": h[:, :, 2]}

    def _spatial_inverse(self, bands: dict[str, Tensor], size: tuple[int, int]) -> Tensor:
        highs = torch.stack((bands["LH"], bands["HL"], bands["HH"]), dim=2)
        return idwt2d(bands["LL"], [highs], self.wavelet, mode=self.mode, size=size)

    def grid_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (band_length(int(size[0]), self.wavelet, self.mode), band_length(int(size[1]), self.wavelet, self.mode))

    def to_grid(self, hyper: Tensor) -> Tensor:
        return torch.cat(list(self._spatial(hyper).values()), dim=1)

    def extra_repr(self) -> str:
        return f"M={self.latent_channels}, slices={len(self.slices)}, wavelet={self.wavelet!r}, mode={self.mode!r}"


class ThreeDWeChARM(_SpatialGrid):
    """3DWeChARM: 1-level channel DWT + 1-level spatial DWT -> 8 sub-bands, 10 slices (see module doc).

    ``latent_channels`` must be divisible by 4 (``LLL`` and ``HLL`` are halved).
    """

    low_frequency_bands = ("LLL", "HLL")
    ORDER = ("LLL", "HLL", "LLH", "LHL", "LHH", "HLH", "HHL", "HHH")

    def __init__(self, latent_channels: int, hyper_channels: int, context_channels: int = 128, width: int = 128,
                 param_width: int = 128, wavelet: str = "bior4.4", mode: str = "jpeg2000") -> None:
        if latent_channels % 4:
            raise ValueError(f"3DWeChARM needs latent_channels divisible by 4, got {latent_channels}")
        half, quarter = latent_channels // 2, latent_channels // 4
        specs = []
        for band in self.ORDER:
            if band in self.low_frequency_bands:
                specs += [SliceSpec(f"{band}{k}", ((band, quarter),)) for k in range(2)]
            else:
                specs.append(SliceSpec(band, ((band, half),)))
        self.slices = tuple(specs)
        super().__init__(latent_channels, hyper_channels, context_channels, width, param_width, wavelet, mode)
        self.channel_dwt = ChannelDWT(latent_channels, wavelet, levels=1, mode=mode)
        self.channel_idwt = ChannelIDWT(latent_channels, wavelet, levels=1, mode=mode)

    def split(self, y: Tensor) -> list[Tensor]:
        half = self.latent_channels // 2
        spatial = self._spatial(self.channel_dwt(y))
        bands = {}
        for s, t in spatial.items():
            bands["L" + s], bands["H" + s] = t[:, :half], t[:, half:]
        out: list[Tensor] = []
        for band in self.ORDER:
            t = bands[band]
            out += list(t.chunk(2, dim=1)) if band in self.low_frequency_bands else [t]
        return [t.contiguous() for t in out]

    def merge(self, slices: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        bands: dict[str, Tensor] = {}
        i = 0
        for band in self.ORDER:
            n = 2 if band in self.low_frequency_bands else 1
            bands[band] = torch.cat(list(slices[i : i + n]), dim=1) if n > 1 else slices[i]
            i += n
        spatial = {s: torch.cat((bands["L" + s], bands["H" + s]), dim=1) for s in _SPATIAL}
        return self.channel_idwt(self._spatial_inverse(spatial, size))


class WeChARM(_SpatialGrid):
    """WeChARM (WeConvene): 1-level spatial DWT; ``LL`` in ``ll_slices`` slices, then the three
    detail bands in ``hf_slices`` slices of ``3 M / hf_slices`` channels (chunk ``k`` of LH, HL, HH)."""

    low_frequency_bands = ("LL",)

    def __init__(self, latent_channels: int, hyper_channels: int, context_channels: int = 128, width: int = 128,
                 param_width: int = 128, wavelet: str = "bior4.4", mode: str = "jpeg2000",
                 ll_slices: int = 5, hf_slices: int = 5) -> None:
        for name, n in (("ll_slices", ll_slices), ("hf_slices", hf_slices)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1 or latent_channels % n:
                raise ValueError(f"{name} must be a positive divisor of latent_channels={latent_channels}, got {n!r}")
        cl, ch = latent_channels // ll_slices, latent_channels // hf_slices
        self.slices = tuple(
            [SliceSpec(f"LL{k}", (("LL", cl),)) for k in range(ll_slices)]
            + [SliceSpec(f"HF{k}", (("LH", ch), ("HL", ch), ("HH", ch))) for k in range(hf_slices)]
        )
        self.ll_slices, self.hf_slices = ll_slices, hf_slices
        super().__init__(latent_channels, hyper_channels, context_channels, width, param_width, wavelet, mode)

    def split(self, y: Tensor) -> list[Tensor]:
        b = self._spatial(y)
        out = list(b["LL"].chunk(self.ll_slices, dim=1))
        details = [b[s].chunk(self.hf_slices, dim=1) for s in ("LH", "HL", "HH")]
        out += [torch.cat(parts, dim=1) for parts in zip(*details)]
        return [t.contiguous() for t in out]

    def merge(self, slices: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        ll = torch.cat(list(slices[: self.ll_slices]), dim=1)
        details = [t.chunk(3, dim=1) for t in slices[self.ll_slices :]]
        bands = {"LL": ll}
        for j, s in enumerate(("LH", "HL", "HH")):
            bands[s] = torch.cat([d[j] for d in details], dim=1)
        return self._spatial_inverse(bands, size)


class ChWP(SliceEntropyModel):
    """ChWP (ChWDTA): 2-level channel wavelet packet -> 4 bands ``LL, LH, HL, HH`` of ``M/4`` channels
    on the latent grid, ``slices_per_band`` (1 or 2) slices each (4 or 8 slices)."""

    grid_bands = 1
    low_frequency_bands = ("LL",)
    BANDS = ("LL", "LH", "HL", "HH")

    def __init__(self, latent_channels: int, hyper_channels: int, context_channels: int = 128, width: int = 128,
                 param_width: int = 128, wavelet: str = "bior4.4", mode: str = "jpeg2000",
                 slices_per_band: int = 2) -> None:
        if slices_per_band not in (1, 2):
            raise ValueError(f"slices_per_band must be 1 or 2, got {slices_per_band!r}")
        if latent_channels % (4 * slices_per_band):
            raise ValueError(
                f"ChWP with {slices_per_band} slice(s) per band needs latent_channels divisible by "
                f"{4 * slices_per_band}, got {latent_channels}"
            )
        c = latent_channels // (4 * slices_per_band)
        self.slices = tuple(
            SliceSpec(f"{band}{k}" if slices_per_band > 1 else band, ((band, c),))
            for band in self.BANDS for k in range(slices_per_band)
        )
        self.slices_per_band = slices_per_band
        self.wavelet, self.mode = _check_wavelet(wavelet, mode)
        super().__init__(latent_channels, hyper_channels, context_channels, width, param_width)
        self.packet = ChannelWaveletPacket(latent_channels, wavelet, levels=2, mode=mode)
        self.packet_inverse = ChannelWaveletPacketInverse(latent_channels, wavelet, levels=2, mode=mode)

    def split(self, y: Tensor) -> list[Tensor]:
        return [t.contiguous() for t in self.packet(y).chunk(len(self.slices), dim=1)]

    def merge(self, slices: Sequence[Tensor], size: tuple[int, int]) -> Tensor:
        return self.packet_inverse(torch.cat(list(slices), dim=1))

    def grid_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (int(size[0]), int(size[1]))

    def to_grid(self, hyper: Tensor) -> Tensor:
        return hyper

    def extra_repr(self) -> str:
        return f"M={self.latent_channels}, slices={len(self.slices)}, wavelet={self.wavelet!r}, mode={self.mode!r}"
