# 3DM-WeConv variant of the baseline: every down-sampling site of the ResNetV1c-50 backbone (stem
# stride-2 conv, stem max-pool, the stride-2 3x3 conv of stages 1-3) becomes a WeConv3D with the
# CDF 9/7 wavelet (bior4.4), 2 spatial and 1 channel DWT levels; the wavelet bands use the backbone's
# norm (SyncBN here). The ImageNet checkpoint of the base config still initialises every ResNet
# weight, replaced convs included (their weights feed the WeConv3D head convs).
_base_ = ['./upernet_r50_8xb2-80k_ade20k-512x512.py']
# The plugin by its installed name (the wheel's; a checkout's after tools/setup_env.sh).
custom_imports = dict(imports=['wavelayers_integrations.segmentation'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='WaveResNetV1c',
        wavelet='bior4.4',
        levels=2,
        channel_levels=1,
        stages=(1, 2, 3),
        replace_stem=True,
        replace_shortcut=False,
        wave_norm='backbone'))
