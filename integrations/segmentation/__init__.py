"""mmsegmentation plugin: wavelet (3DM-WeConv) down-sampling for mmseg models.

Importing this package registers ``WaveResNetV1c`` in ``mmseg.registry.MODELS``. In a config::

    custom_imports = dict(imports=['wavelayers_integrations.segmentation'], allow_failed_imports=False)
    model = dict(backbone=dict(type='WaveResNetV1c', wavelet='bior4.4', levels=2, channel_levels=1,
                               stages=(1, 2, 3), replace_stem=True))

``wavelayers_integrations`` is this folder's installed name: the wheel's, and a checkout's once
``tools/setup_env.sh`` (``pip install -e .``) has run. A checkout also imports it as
``integrations.segmentation``; the backbone is registered once under both names
(:mod:`.registration`). Needs mmsegmentation 1.2.2 with a full mmcv 2.1 (``bash tools/install_mmseg.sh``).
"""
from .backbone import WaveResNetV1c

__all__ = ["WaveResNetV1c"]
