"""DVC (Lu et al., CVPR 2019) video compression with wavelet layers in the motion and residual coders;
``python -m <package>.video {train, eval, compress, decompress}`` (see ``docs/video.md``)."""
from .gop import GopCoding, decode_gop, encode_gop, gop_metrics
from .model import DVC, MODEL_NAMES, PRESETS, DVCConfig, build_model, pad_frame
from .warp import warp

__all__ = ["DVC", "DVCConfig", "PRESETS", "MODEL_NAMES", "build_model", "pad_frame", "warp", "GopCoding",
           "encode_gop", "decode_gop", "gop_metrics"]
