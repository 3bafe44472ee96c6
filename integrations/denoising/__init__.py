"""Real-image denoising: MIRNet-v2 with optional 3DM-WeConv (``WeConv3D``) down/up-sampling,
SIDD / DND style data, PSNR / SSIM, a training loop (:mod:`.training`) and
``python -m <package>.denoising {train, eval, crops}`` (see ``docs/denoising.md``)."""
from .model import MODEL_NAMES, PRESETS, MIRNetConfig, MIRNetV2, build_model

__all__ = ["MIRNetConfig", "MIRNetV2", "PRESETS", "MODEL_NAMES", "build_model"]
