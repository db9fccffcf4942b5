# Mask R-CNN + FPN on A2Mamba-T (the mask_rcnn_a2mamba_*_coco configs' model,
# without data or schedule); other sizes replace the backbone and the FPN's
# in_channels from ./a2mamba_backbones.py.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './a2mamba_backbones.py',
]
model = dict(
    backbone=dict(_delete_=True, **_base_.a2mamba_backbones['tiny']),
    neck=dict(in_channels=_base_.a2mamba_channels['tiny']))
