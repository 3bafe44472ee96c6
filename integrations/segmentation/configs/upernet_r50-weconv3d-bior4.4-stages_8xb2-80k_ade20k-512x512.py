# As the bior4.4 variant, with the stem (stride-2 conv and max-pool) left as in ResNetV1c: only the
# stride-2 convs of stages 1-3 are WeConv3D layers.
_base_ = ['./upernet_r50-weconv3d-bior4.4_8xb2-80k_ade20k-512x512.py']
model = dict(backbone=dict(replace_stem=False))
