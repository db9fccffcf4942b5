# Mask R-CNN + A2Mamba-T + MASSFPN (our FPN, docs/design.md § MASSFPN) on COCO,
# 1x schedule, batch 16 (8 GPUs x 2). Same recipe as the FPN config; only the
# neck changes (MASSFPN takes FPN's arguments).
_base_ = ['./mask_rcnn_a2mamba_t_fpn_1x_coco.py']
model = dict(
    neck=dict(
        type='MASSFPN',
        num_blocks=1,
        block_norm_cfg=dict(type='SyncBN', requires_grad=True)))
