# Mask R-CNN + A2Mamba-B + FPN on COCO, 3x with multi-scale + crop
# training: the A2Mamba-T 3x recipe with the base backbone (batch 16 =
# 8 GPUs x 2).
_base_ = ['./mask_rcnn_a2mamba_t_fpn_3x_coco.py']
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(
            checkpoint=_base_.a2mamba_checkpoint_dir + '/a2mamba_base.pth')),
    neck=dict(in_channels=[96, 192, 384, 512]))
