"""Real-image denoising: MIRNet-v2 with optional 3DM-WeConv (``WeConv3D``) down/up-sampling,
SIDD / DND style data, PSNR / SSIM, and a training loop (see ``docs/denoising.md``)."""
from .model import PRESETS, MIRNetConfig, MIRNetV2, build_model, swap_resampling

__all__ = ["MIRNetConfig", "MIRNetV2", "PRESETS", "build_model", "swap_resampling"]
