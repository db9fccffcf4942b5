# UperNet + A2Mamba-L on ADE20K: the A2Mamba-T recipe with the large
# backbone (160k iterations, batch 16 = 8 GPUs x 2, 512x512 crops).
_base_ = ['./upernet_a2mamba_t_ade20k.py']
model = dict(
    backbone=_base_.a2mamba_backbones['large'],
    decode_head=dict(in_channels=_base_.a2mamba_channels['large']),
    auxiliary_head=dict(in_channels=_base_.a2mamba_channels['large'][2]))
