"""The wavelet switch: the 2x down / up-sampling layers of DVC's four coders become WeConv3D.

DVC's coders are built with their published layers, ``Conv2d(k, stride 2, padding k//2)`` and
``ConvTranspose2d(k, stride 2, padding k//2, output_padding 1)``. For a wavelet other than
``'none'``, :func:`apply_wavelet` rewrites an encoder / decoder pair with
:func:`wavelayers.replace_downsampling` / :func:`~wavelayers.replace_upsampling` and the factory
:func:`weconv`: ``WeConv3D(stride=2)`` and ``WeConv3D(upsample='transposed')`` with the same
kernel, channels and output size (3DM-WeConv / I3DM-WeConv).
The channel DWT needs an even channel count; layers with fewer than 4 or an odd number of output
channels (the decoders' last layers: 2 flow / 3 RGB channels) get ``channel_levels=0``.
"""
from __future__ import annotations

from torch import nn

from wavelayers import RewriteReport, WeConv3D, replace_downsampling, replace_upsampling

from ..toolkit.wavelets import check_wavelet

__all__ = ["weconv", "apply_wavelet"]


def _channel_levels(out_channels: int) -> int:
    return 1 if out_channels >= 4 and out_channels % 2 == 0 else 0


def weconv(in_channels: int, out_channels: int, **kwargs) -> WeConv3D:
    """The rewriters' layer: ``WeConv3D`` with the rewriter's ``stride=2`` (down, (N, in, H, W) ->
    (N, out, H/2, W/2)) or ``upsample=`` (up, -> (N, out, 2H, 2W)), ``kernel_size``, ``wavelet``,
    ``levels``, and a channel DWT where the output channels allow one."""
    return WeConv3D(in_channels, out_channels, channel_levels=_channel_levels(out_channels), **kwargs)


def apply_wavelet(encoder: nn.Module, decoder: nn.Module, wavelet: str, levels: int = 2) -> list[RewriteReport]:
    """Swap the stride-2 convs of ``encoder`` and the stride-2 transposed convs of ``decoder`` in place;
    returns the rewriter's reports (nothing changes for ``wavelet='none'``)."""
    if check_wavelet(wavelet) == "none":
        return []
    _, down = replace_downsampling(encoder, wavelet, layer=weconv, levels=levels, inplace=True)
    _, up = replace_upsampling(decoder, wavelet, layer=weconv, upsample="transposed", levels=levels, inplace=True)
    for report in (down, up):
        if report.skipped:
            raise RuntimeError(f"the wavelet rewrite skipped sampling layers:\n{report}")
    return [down, up]
