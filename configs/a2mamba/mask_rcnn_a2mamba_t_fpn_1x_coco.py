# Mask R-CNN + A2Mamba-T + FPN on COCO, 1x schedule (12 epochs), batch 16
# (8 GPUs x 2 images). Recipe of mmdet's Swin/ConvNeXt Mask R-CNN configs:
# AdamW lr 1e-4, wd 0.05, 1000-iter linear warm-up, steps at epochs 8, 11.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/a2mamba_pretrained.py',
    './_base_/a2mamba_paramwise.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='A2Mamba',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=_base_.a2mamba_checkpoint_dir + '/a2mamba_tiny.pth')),
    neck=dict(in_channels=[48, 96, 256, 448]))

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=_base_.a2mamba_paramwise_cfg)
