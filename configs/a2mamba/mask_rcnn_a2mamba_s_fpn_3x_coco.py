# Mask R-CNN + A2Mamba-S + FPN on COCO, 3x with multi-scale + crop
# training: the A2Mamba-T 3x recipe with the small backbone (batch 16 =
# 8 GPUs x 2).
_base_ = ['./mask_rcnn_a2mamba_t_fpn_3x_coco.py']
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        init_cfg=dict(
            checkpoint=_base_.a2mamba_checkpoint_dir + '/a2mamba_small.pth')),
    neck=dict(in_channels=[64, 128, 320, 512]))
