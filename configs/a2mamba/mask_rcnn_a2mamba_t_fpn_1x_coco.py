# Mask R-CNN + A2Mamba-T + FPN on COCO, 1x schedule (12 epochs), batch 16
# (8 GPUs x 2 images). Recipe of mmdet's Swin/ConvNeXt Mask R-CNN configs:
# AdamW lr 1e-4, wd 0.05, 1000-iter linear warm-up, steps at epochs 8, 11.
_base_ = [
    './_base_/mask_rcnn_a2mamba_fpn.py',
    './_base_/coco_adamw_1x.py',
]
