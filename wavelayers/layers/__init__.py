"""Wavelet-domain layers."""
from .chwdtb import ChWDTB
from .norm import GDN
from .weconv import WeConv2D, WeConv3D

__all__ = ["ChWDTB", "GDN", "WeConv2D", "WeConv3D"]
