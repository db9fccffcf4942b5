# Mask R-CNN + A2Mamba-S + FPN on COCO, 3x (36 epochs) with multi-scale
# + crop training (mmdet's Swin/ConvNeXt 3x recipe), batch 16 = 8 GPUs x 2.
_base_ = [
    './mask_rcnn_a2mamba_s_fpn_1x_coco.py',
    './_base_/coco_ms_crop_3x.py',
]
train_dataloader = dict(dataset=dict(pipeline=_base_.ms_crop_train_pipeline))
max_epochs = 36
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
        milestones=[27, 33],
        gamma=0.1)
]
