# UperNet + A2Mamba-S on ADE20K: the A2Mamba-T recipe with the small
# backbone (160k iterations, batch 16 = 8 GPUs x 2, 512x512 crops).
_base_ = ['./upernet_a2mamba_t_ade20k.py']
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        init_cfg=dict(
            checkpoint=_base_.a2mamba_checkpoint_dir + '/a2mamba_small.pth')),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
