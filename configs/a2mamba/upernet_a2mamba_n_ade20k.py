# UperNet + A2Mamba-N on ADE20K: the A2Mamba-T recipe with the nano
# backbone (160k iterations, batch 16 = 8 GPUs x 2, 512x512 crops).
_base_ = ['./upernet_a2mamba_t_ade20k.py']
model = dict(
    backbone=dict(
        arch='nano',
        drop_path_rate=0.1,
        init_cfg=dict(
            checkpoint=_base_.a2mamba_checkpoint_dir + '/a2mamba_nano.pth')),
    decode_head=dict(in_channels=[32, 64, 128, 192]),
    auxiliary_head=dict(in_channels=128))
