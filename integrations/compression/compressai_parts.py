"""The CompressAI classes the codecs build on, imported in one place with CompressAI's own
``FutureWarning`` (it calls the deprecated ``torch.jit.script``) silenced."""
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.ans import BufferedRansEncoder, RansDecoder
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.models import CompressionModel
    from compressai.models.base import get_scale_table

__all__ = ["BufferedRansEncoder", "RansDecoder", "EntropyBottleneck", "GaussianConditional", "CompressionModel",
           "get_scale_table"]
