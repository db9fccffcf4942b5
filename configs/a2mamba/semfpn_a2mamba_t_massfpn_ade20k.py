# Semantic FPN (FPNHead) + A2Mamba-T + MASSFPN (docs/design.md § MASSFPN) on
# ADE20K, 512x512 crops, batch 16 (8 GPUs x 2). Same optimiser and 160k
# schedule as the UperNet configs, so the two decoders compare directly.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    './_base_/a2mamba_backbones.py',
    './_base_/ade20k_adamw_160k.py',
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(_delete_=True, **_base_.a2mamba_backbones['tiny']),
    neck=dict(
        type='MASSFPN',
        in_channels=_base_.a2mamba_channels['tiny'],
        out_channels=256,
        num_outs=4,
        num_blocks=1,
        block_norm_cfg=norm_cfg),
    decode_head=dict(num_classes=150, norm_cfg=norm_cfg))
