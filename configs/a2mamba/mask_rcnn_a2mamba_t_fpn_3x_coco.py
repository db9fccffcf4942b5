# Mask R-CNN + A2Mamba-T + FPN on COCO, 3x (36 epochs) with multi-scale
# + crop training (mmdet's Swin/ConvNeXt 3x recipe), batch 16 = 8 GPUs x 2.
_base_ = [
    './_base_/mask_rcnn_a2mamba_fpn.py',
    './_base_/coco_adamw_ms_crop_3x.py',
]
