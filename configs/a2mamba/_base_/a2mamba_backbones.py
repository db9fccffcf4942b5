# The A2Mamba backbone of every dense-prediction config, one entry per size:
# arch, stochastic depth (0.1 / 0.2 / 0.3 / 0.4 / 0.5 for N / T / S / B / L,
# our choice), SyncBN and the released ImageNet-1K weights
# (./a2mamba_pretrained.py). ``a2mamba_channels``: the channels of its four
# outputs, what a neck or a decode head reads. A config picks a size with
#   model = dict(backbone=_base_.a2mamba_backbones['small'],
#                neck=dict(in_channels=_base_.a2mamba_channels['small']))
_base_ = ['./a2mamba_pretrained.py']
a2mamba_drop_path_rates = dict(
    nano=0.1, tiny=0.2, small=0.3, base=0.4, large=0.5)
a2mamba_channels = dict(
    nano=[32, 64, 128, 192],
    tiny=[48, 96, 256, 448],
    small=[64, 128, 320, 512],
    base=[96, 192, 384, 512],
    large=[96, 192, 448, 672])
a2mamba_backbones = {
    size: dict(
        type='A2Mamba',
        arch=size,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=rate,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=f'{_base_.a2mamba_checkpoint_dir}/a2mamba_{size}.pth'))
    for size, rate in a2mamba_drop_path_rates.items()
}
