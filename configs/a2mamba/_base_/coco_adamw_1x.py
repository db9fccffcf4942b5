# COCO instances with the 1x recipe of mmdet's Swin/ConvNeXt Mask R-CNN
# configs: 12 epochs, batch 16 (8 GPUs x 2 images), AdamW lr 1e-4, wd 0.05,
# 1000-iteration linear warm-up, steps x0.1 at epochs 8 and 11. The step
# schedule ends with training: our tools move its end when --cfg-options
# change train_cfg.max_epochs.
# Checkpoints are written atomically (mmmamba.utils.SafeCheckpointHook).
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './a2mamba_paramwise.py',
]
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
default_hooks = dict(checkpoint=dict(type='mmmamba.utils.SafeCheckpointHook'))
