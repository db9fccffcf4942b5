# UperNet + A2Mamba-B on ADE20K: the A2Mamba-T recipe with the base
# backbone (160k iterations, batch 16 = 8 GPUs x 2, 512x512 crops).
_base_ = ['./upernet_a2mamba_t_ade20k.py']
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(
            checkpoint=_base_.a2mamba_checkpoint_dir + '/a2mamba_base.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 512]),
    auxiliary_head=dict(in_channels=384))
