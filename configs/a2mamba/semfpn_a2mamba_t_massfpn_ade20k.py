# Semantic FPN (FPNHead) + A2Mamba-T + MASSFPN (docs/design.md § MASSFPN) on
# ADE20K, 512x512 crops, batch 16 (8 GPUs x 2). Same optimiser and 160k
# schedule as the UperNet configs, so the two decoders compare directly.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    './_base_/a2mamba_pretrained.py',
    './_base_/a2mamba_paramwise.py',
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='A2Mamba',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=_base_.a2mamba_checkpoint_dir + '/a2mamba_tiny.pth')),
    neck=dict(
        type='MASSFPN',
        in_channels=[48, 96, 256, 448],
        out_channels=256,
        num_outs=4,
        num_blocks=1,
        block_norm_cfg=norm_cfg),
    decode_head=dict(num_classes=150, norm_cfg=norm_cfg))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=_base_.a2mamba_paramwise_cfg)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=160000,
        by_epoch=False),
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
