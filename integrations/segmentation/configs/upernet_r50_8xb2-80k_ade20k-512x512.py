# Baseline: UperNet-R50 (ResNetV1c-50) on ADE20K, 512x512 crops, 80k iterations, 16 images per step
# (8 GPUs x 2, the same global batch as mmseg's 4x4 reference config, which reports 40.70 mIoU).
# SyncBN (from the base model) is right for multi-GPU runs; mmengine's Runner reverts it to BN when
# not distributed, and a model built directly with MODELS.build on CPU needs norm_cfg=dict(type='BN').
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
train_dataloader = dict(batch_size=2)
