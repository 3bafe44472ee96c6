# As the bior4.4 variant, with the Haar wavelet.
_base_ = ['./upernet_r50-weconv3d-bior4.4_8xb2-80k_ade20k-512x512.py']
model = dict(backbone=dict(wavelet='haar'))
