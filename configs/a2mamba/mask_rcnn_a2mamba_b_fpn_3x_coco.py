# Mask R-CNN + A2Mamba-B + FPN on COCO, 3x with multi-scale + crop
# training: the A2Mamba-T 3x recipe with the base backbone (batch 16 =
# 8 GPUs x 2).
_base_ = ['./mask_rcnn_a2mamba_t_fpn_3x_coco.py']
model = dict(
    backbone=_base_.a2mamba_backbones['base'],
    neck=dict(in_channels=_base_.a2mamba_channels['base']))
