# Quick start / tests: UperNet + the tiny 'test'-width A2Mamba on the
# generated ADE20K-layout data (python tools/make_tiny_dataset.py). Trains
# from scratch (no checkpoint needed) on CPU in a few minutes, plain BN,
# 64x64 crops, validates (mIoU) at the end. The data follow ADE20K's label
# convention (0 = ignore, reduce_zero_label); the dataset names its 4 classes
# instead of ADE20K's 150 (the stock ADE20KDataset reads the same files).
_base_ = ['../upernet_a2mamba_t_ade20k.py']
crop_size = (64, 64)
data_root = 'data/tiny/ade'
norm_cfg = dict(type='BN', requires_grad=True)
num_classes = 4
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=dict(
        classes=('background', 'rectangle', 'ellipse', 'triangle'),
        palette=[[120, 120, 120], [220, 20, 60], [0, 160, 60], [0, 60, 220]]),
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(arch='test', drop_path_rate=0.0, norm_cfg=norm_cfg,
                  init_cfg=None),
    decode_head=dict(
        in_channels=[16, 32, 64, 64],
        channels=64,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=64,
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(96, 96),
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**dataset, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 200
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=20,
        end=max_iters,
        by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters),
    visualization=dict(draw=False))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
