# ADE20K with the recipe of mmseg's Swin/ConvNeXt UperNet configs: 512x512
# crops, 160k iterations, batch 16 (8 GPUs x 2 images), AdamW lr 6e-5,
# wd 0.01, 1500-iteration linear warm-up, then poly decay to 0 when training
# ends: our tools move its end when --cfg-options change train_cfg.max_iters.
# Checkpoints are written atomically (mmmamba.utils.SafeCheckpointHook).
_base_ = [
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    './a2mamba_paramwise.py',
]
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
# 8 GPUs x 2 images = batch 16
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(checkpoint=dict(type='mmmamba.utils.SafeCheckpointHook'))
