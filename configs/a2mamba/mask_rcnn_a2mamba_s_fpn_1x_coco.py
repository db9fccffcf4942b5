# Mask R-CNN + A2Mamba-S + FPN on COCO, 1x: the A2Mamba-T recipe with
# the small backbone (batch 16 = 8 GPUs x 2).
_base_ = ['./mask_rcnn_a2mamba_t_fpn_1x_coco.py']
model = dict(
    backbone=_base_.a2mamba_backbones['small'],
    neck=dict(in_channels=_base_.a2mamba_channels['small']))
