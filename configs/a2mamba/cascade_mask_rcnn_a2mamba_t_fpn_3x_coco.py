# Cascade Mask R-CNN + A2Mamba-T + FPN on COCO, 3x (36 epochs) with
# multi-scale + crop training, batch 16 (8 GPUs x 2). Recipe of mmdet's
# Swin/ConvNeXt Cascade configs: AdamW lr 1e-4, wd 0.05; the three box heads
# are 4conv1fc heads with SyncBN and GIoU loss.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './_base_/a2mamba_backbones.py',
    './_base_/coco_adamw_ms_crop_3x.py',
]
head_norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(_delete_=True, **_base_.a2mamba_backbones['tiny']),
    neck=dict(in_channels=_base_.a2mamba_channels['tiny']),
    roi_head=dict(bbox_head=[
        dict(
            type='ConvFCBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=stds),
            reg_class_agnostic=False,
            reg_decoded_bbox=True,
            norm_cfg=head_norm_cfg,
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                     [0.033, 0.033, 0.067, 0.067])
    ]))
