# UperNet + A2Mamba-T on ADE20K, 512x512 crops, 160k iterations,
# batch 16 (8 GPUs x 2 images). Recipe of mmseg's Swin/ConvNeXt UperNet
# configs: AdamW lr 6e-5, wd 0.01, 1500-iter linear warm-up, poly decay.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
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
    decode_head=dict(
        in_channels=_base_.a2mamba_channels['tiny'],
        num_classes=150,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=_base_.a2mamba_channels['tiny'][2],
        num_classes=150,
        norm_cfg=norm_cfg))
