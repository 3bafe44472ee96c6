"""DVC's motion coder and residual coder, each an autoencoder with an entropy model.

* :class:`MotionCoder` (DVC's MV encoder / decoder net): flow (N, 2, H, W) -> 4 stride-2 3x3 convs
  with GDN between -> latent (N, C_mv, H/16, W/16), coded with a factorized prior (CompressAI
  ``EntropyBottleneck``, DVC's "bit estimation net") -> 4 stride-2 3x3 transposed convs with IGDN.
* :class:`ResidualCoder` (DVC's residual encoder / decoder net, Balle 2018): residual (N, 3, H, W)
  -> 4 stride-2 5x5 convs with GDN -> y (N, M, H/16, W/16); hyper-analysis of ``|y|`` -> z
  (N, N_h, H/64, W/64) with an ``EntropyBottleneck``; y coded with a zero-mean
  ``GaussianConditional`` whose scales come from the hyper-synthesis (``entropy='hyperprior'``) or
  with 3DWeChARM (``entropy='3dwecharm'``, :class:`integrations.compression.entropy_models.ThreeDWeChARM`,
  conditioned on the hyper-synthesis features).

The four analysis / synthesis nets are built with DVC's stride-2 convs / transposed convs; with a
wavelet, :func:`.sampling.apply_wavelet` swaps those for WeConv3D (the hyperprior nets keep plain
convs). Frame sizes must be multiples of 64.

Coding (batch 1): :meth:`compress` returns the streams and the reconstruction *the decoder will
compute* (the encoder decodes its own streams through the decoder's code path), so encoder and
decoder reconstructions are equal bit for bit on a given machine and software build.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from wavelayers import GDN

from ..compression.compressai_parts import EntropyBottleneck, GaussianConditional, get_scale_table
from ..compression.entropy_models import MAX_SYMBOL, ThreeDWeChARM, guarded_stream
from .sampling import apply_wavelet


__all__ = ["MotionCoder", "ResidualCoder", "ENTROPY_MODELS", "CDF_BUFFER_SUFFIXES"]

ENTROPY_MODELS = ("hyperprior", "3dwecharm")
# CDF tables rebuilt by ``update()``; their shapes depend on the weights, so checkpoints leave them out.
CDF_BUFFER_SUFFIXES = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def _analysis(cin: int, mid: int, cout: int, k: int) -> nn.Sequential:
    """4 x ``Conv2d(k, stride 2)`` with GDN between: (N, cin, H, W) -> (N, cout, H/16, W/16)."""
    dims = [cin, mid, mid, mid, cout]
    layers: list[nn.Module] = []
    for i in range(4):
        layers.append(nn.Conv2d(dims[i], dims[i + 1], k, stride=2, padding=k // 2))
        if i < 3:
            layers.append(GDN(dims[i + 1]))
    return nn.Sequential(*layers)


def _synthesis(cin: int, mid: int, cout: int, k: int) -> nn.Sequential:
    """4 x ``ConvTranspose2d(k, stride 2)`` with IGDN between: (N, cin, h, w) -> (N, cout, 16h, 16w)."""
    dims = [cin, mid, mid, mid, cout]
    layers: list[nn.Module] = []
    for i in range(4):
        layers.append(nn.ConvTranspose2d(dims[i], dims[i + 1], k, stride=2, padding=k // 2, output_padding=1))
        if i < 3:
            layers.append(GDN(dims[i + 1], inverse=True))
    return nn.Sequential(*layers)


def _check_decoded(t: Tensor, what: str) -> Tensor:
    if t.numel() and not bool(torch.isfinite(t).all() and t.abs().max() <= MAX_SYMBOL):
        raise ValueError(f"corrupt {what} stream: decodes to a symbol beyond +-{MAX_SYMBOL}")
    return t


def _bottleneck_decode(eb: EntropyBottleneck, stream: bytes, size: tuple[int, int], what: str) -> Tensor:
    return _check_decoded(eb.decompress([guarded_stream(stream, eb.channels * size[0] * size[1])], size), what)


class MotionCoder(nn.Module):
    """Flow (N, 2, H, W) <-> latent (N, channels, H/16, W/16) with a factorized prior."""

    def __init__(self, channels: int = 128, wavelet: str = "none", weconv_levels: int = 2) -> None:
        super().__init__()
        self.encoder = _analysis(2, channels, channels, 3)
        self.decoder = _synthesis(channels, channels, 2, 3)
        apply_wavelet(self.encoder, self.decoder, wavelet, weconv_levels)
        self.entropy = EntropyBottleneck(channels)

    def forward(self, flow: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Training / estimation: ``(flow_hat, [likelihoods])`` (noise in training, rounding in eval)."""
        v_hat, lik = self.entropy(self.encoder(flow))
        return self.decoder(v_hat), [lik]

    @torch.no_grad()
    def compress(self, flow: Tensor) -> tuple[list[bytes], Tensor]:
        v = self.encoder(flow)
        (stream,) = self.entropy.compress(v)
        return [stream], self.decompress([stream], (v.shape[-2], v.shape[-1]))

    @torch.no_grad()
    def decompress(self, streams: list[bytes], latent_size: tuple[int, int]) -> Tensor:
        (stream,) = streams
        return self.decoder(_bottleneck_decode(self.entropy, stream, latent_size, "motion"))

    def update(self, force: bool = False) -> None:
        self.entropy.update(force=force)


class ResidualCoder(nn.Module):
    """Residual (N, 3, H, W) <-> y (N, M, H/16, W/16) + z (N, N_h, H/64, W/64)."""

    def __init__(self, channels: int = 128, latent_channels: int = 192, hyper_channels: int = 128,
                 wavelet: str = "none", weconv_levels: int = 2, entropy: str = "hyperprior") -> None:
        super().__init__()
        if entropy not in ENTROPY_MODELS:
            raise ValueError(f"entropy must be one of {ENTROPY_MODELS}, got {entropy!r}")
        self.entropy_kind = entropy
        n, m, h = channels, latent_channels, hyper_channels
        self.encoder = _analysis(3, n, m, 5)
        self.decoder = _synthesis(m, n, 3, 5)
        apply_wavelet(self.encoder, self.decoder, wavelet, weconv_levels)
        self.hyper_encoder = nn.Sequential(
            nn.Conv2d(m, h, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(h, h, 5, stride=2, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(h, h, 5, stride=2, padding=2),
        )
        hyper_out = m if entropy == "hyperprior" else h
        self.hyper_decoder = nn.Sequential(
            nn.ConvTranspose2d(h, h, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(h, h, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(h, hyper_out, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.z_entropy = EntropyBottleneck(h)
        if entropy == "hyperprior":
            self.y_entropy: nn.Module = GaussianConditional(None)
        else:
            self.y_entropy = ThreeDWeChARM(m, h, context_channels=h, width=h, param_width=h)

    def forward(self, res: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Training / estimation: ``(res_hat, [likelihoods of y ..., of z])``."""
        y = self.encoder(res)
        z_hat, z_lik = self.z_entropy(self.hyper_encoder(torch.abs(y)))
        hyper = self.hyper_decoder(z_hat)
        if self.entropy_kind == "hyperprior":
            y_hat, y_lik = self.y_entropy(y, hyper)
            liks = [y_lik]
        else:
            y_hat, band_liks = self.y_entropy(y, hyper)
            liks = list(band_liks.values())
        return self.decoder(y_hat), [*liks, z_lik]

    @torch.no_grad()
    def compress(self, res: Tensor) -> tuple[list[bytes], Tensor]:
        y = self.encoder(res)
        z = self.hyper_encoder(torch.abs(y))
        (z_stream,) = self.z_entropy.compress(z)
        if self.entropy_kind == "hyperprior":
            hyper = self._hyper(z_stream, (z.shape[-2], z.shape[-1]))
            (y_stream,) = self.y_entropy.compress(y, self.y_entropy.build_indexes(hyper))
        else:
            y_stream, _ = self.y_entropy.compress(y, self._hyper(z_stream, (z.shape[-2], z.shape[-1])))
        streams = [z_stream, y_stream]
        return streams, self.decompress(streams, (y.shape[-2], y.shape[-1]))

    def _hyper(self, z_stream: bytes, z_size: tuple[int, int]) -> Tensor:
        return self.hyper_decoder(_bottleneck_decode(self.z_entropy, z_stream, z_size, "hyperprior z"))

    @torch.no_grad()
    def decompress(self, streams: list[bytes], latent_size: tuple[int, int]) -> Tensor:
        z_stream, y_stream = streams
        hyper = self._hyper(z_stream, (latent_size[0] // 4, latent_size[1] // 4))
        if self.entropy_kind == "hyperprior":
            indexes = self.y_entropy.build_indexes(hyper)
            guarded = guarded_stream(y_stream, indexes.numel())
            y_hat = _check_decoded(self.y_entropy.decompress([guarded], indexes, hyper.dtype), "residual y")
        else:
            y_hat = self.y_entropy.decompress(y_stream, hyper, latent_size)
        return self.decoder(y_hat)

    def update(self, force: bool = False) -> None:
        self.z_entropy.update(force=force)
        if self.entropy_kind == "hyperprior":
            self.y_entropy.update_scale_table(get_scale_table(), force=force)
        else:
            self.y_entropy.update(force=force)
