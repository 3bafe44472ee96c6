"""wavelayers: exact discrete wavelet transforms and wavelet-domain layers for PyTorch."""
from . import functional
from .coeffs import DetailBands, WaveletCoeffs1D, WaveletCoeffs2D
from .functional import dwt1d, dwt2d, idwt1d, idwt2d
from .layers import GDN, ChWDTB, WeConv2D, WeConv3D
from .operators import MODES, band_length, cache_info, clear_caches, use_backend
from .resample import FloorDownsample, WaveletDownsample, WaveletUpsample
from .rewrite import Replacement, RewriteReport, SkippedSite, replace_downsampling, replace_upsampling
from .transforms import (
    DWT1D,
    DWT2D,
    DWT3D,
    IDWT1D,
    IDWT2D,
    IDWT3D,
    ChannelDWT,
    ChannelIDWT,
    ChannelWaveletPacket,
    ChannelWaveletPacketInverse,
)

__version__ = "0.1.0"

__all__ = [
    "DWT1D", "IDWT1D", "DWT2D", "IDWT2D", "DWT3D", "IDWT3D",
    "ChannelDWT", "ChannelIDWT", "ChannelWaveletPacket", "ChannelWaveletPacketInverse",
    "WeConv2D", "WeConv3D", "ChWDTB", "GDN",
    "dwt1d", "idwt1d", "dwt2d", "idwt2d", "functional", "MODES", "band_length", "clear_caches", "cache_info", "use_backend",
    "WaveletCoeffs2D", "WaveletCoeffs1D", "DetailBands",
    "WaveletDownsample", "WaveletUpsample", "FloorDownsample",
    "replace_downsampling", "replace_upsampling", "RewriteReport", "Replacement", "SkippedSite",
]
