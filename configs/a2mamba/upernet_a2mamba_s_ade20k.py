# UperNet + A2Mamba-S on ADE20K: the A2Mamba-T recipe with the small
# backbone (160k iterations, batch 16 = 8 GPUs x 2, 512x512 crops).
_base_ = ['./upernet_a2mamba_t_ade20k.py']
model = dict(
    backbone=_base_.a2mamba_backbones['small'],
    decode_head=dict(in_channels=_base_.a2mamba_channels['small']),
    auxiliary_head=dict(in_channels=_base_.a2mamba_channels['small'][2]))
