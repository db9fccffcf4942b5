"""Helpers of the tool tests: generated data, in-process tool runs, logs."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmmamba.devtools import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')
CONFIGS = osp.join(ROOT, 'configs', 'a2mamba')
QUICK_SEG = osp.join(CONFIGS, 'quickstart', 'upernet_a2mamba_test_tinyade.py')
QUICK_DET = osp.join(CONFIGS, 'quickstart',
                     'mask_rcnn_a2mamba_test_tinycoco.py')
INFER = osp.join(TOOLS, 'deploy', 'infer_onnx.py')
ONNX_RUNTIME_REQUIREMENTS = osp.join(ROOT, 'requirements',
                                     'onnx_runtime.txt')


def load_tool(name):
    """Import tools/<name>.py (e.g. ``'train'``, ``'analysis/get_flops'``)
    as a module (tools/ is not a package)."""
    if TOOLS not in sys.path:
        sys.path.insert(0, TOOLS)
    return load_script(osp.join(TOOLS, f'{name}.py'),
                       f'mmmamba_tool_{name.replace("/", "_")}')


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """A small generated dataset shared by the tool tests."""
    make = load_tool('make_tiny_dataset')
    out = tmp_path_factory.mktemp('tiny')
    make.make_tiny_datasets(str(out), num_train=4, num_val=2, size=80,
                            size_jitter=0.2, seed=0)
    return out


def data_options(data_root, kind):
    """--cfg-options pointing a quick-start config at ``data_root``."""
    if kind == 'seg':
        root = osp.join(data_root, 'ade')
        return [f'train_dataloader.dataset.data_root={root}',
                f'val_dataloader.dataset.data_root={root}',
                f'test_dataloader.dataset.data_root={root}']
    root = osp.join(data_root, 'coco') + '/'
    ann = root + 'annotations/instances_val2017.json'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={ann}',
            f'test_evaluator.ann_file={ann}']


def run_train(config, work_dir, options=(), extra=()):
    """tools/train.py in this process; returns the run's log text."""
    train = load_tool('train')
    argv = [str(config), '--work-dir', str(work_dir), *extra]
    if options:
        argv += ['--cfg-options', *options]
    train.main(argv)
    return read_log(work_dir)


def latest_run(work_dir):
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isdir(osp.join(work_dir, d)) and d[:2] == '20')
    return osp.join(work_dir, runs[-1])


def read_log(work_dir):
    run = latest_run(work_dir)
    with open(osp.join(run, osp.basename(run) + '.log')) as f:
        return f.read()


def read_scalars(work_dir):
    path = osp.join(latest_run(work_dir), 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


SEG_DATA = '''
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    {crop}
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size={batch}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{root}/ade', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{root}/ade', pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
'''

DET_DATA = '''
metainfo = dict(classes=('rectangle', 'ellipse', 'triangle'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),  # sizes as-is
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size={batch}, num_workers=0, persistent_workers=False,{sampler}
    dataset=dict(data_root='{root}/coco/', metainfo=metainfo,
                 filter_cfg=dict(filter_empty_gt={filter_empty}, min_size=0),
                 indices={indices}, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{root}/coco/', metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file='{root}/coco/annotations/instances_val2017.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
'''

TINY_BACKBONE = ("backbone=dict(arch='test', init_cfg=None, "
                 "norm_cfg=dict(type='BN', requires_grad=True))")
# model overrides that shrink each real config to the 'test' arch
SHRINK = {
    'upernet': TINY_BACKBONE + ''',
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(in_channels=[16, 32, 64, 64], channels=32),
    auxiliary_head=dict(in_channels=64, channels=16)''',
    'semfpn': TINY_BACKBONE + ''',
    data_preprocessor=dict(size=crop_size),
    neck=dict(in_channels=[16, 32, 64, 64], out_channels=64),
    decode_head=dict(in_channels=[64, 64, 64, 64], channels=32)''',
    # score_thr 0: an untrained detector still outputs boxes to evaluate
    'det': TINY_BACKBONE + ''',
    neck=dict(in_channels=[16, 32, 64, 64]),
    roi_head=dict(
        bbox_head=([dict(h, num_classes=3)
                    for h in _base_.model.roi_head.bbox_head]
                   if isinstance(_base_.model.roi_head.bbox_head, list)
                   else dict(num_classes=3)),
        mask_head=dict(num_classes=3)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100)),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100),
                  rcnn=dict(score_thr=0.0, max_per_img=20))''',
}


def downstream_config(tmp_path, base, root, name='downstream.py', batch=2,
                      crop=True, filter_empty=True, indices=2, extra='',
                      aspect_ratio_batches=True):
    """Write a config inheriting ``base`` (a path or ``mmmamba::...``)
    that shrinks it to the 'test' arch on the generated data."""
    seg = base.endswith('_ade20k.py')
    family = ('semfpn' if 'semfpn' in base else 'upernet') if seg else 'det'
    data = (SEG_DATA if seg else DET_DATA).format(
        root=root, batch=batch, filter_empty=filter_empty, indices=indices,
        sampler='' if aspect_ratio_batches else ' batch_sampler=None,',
        crop="dict(type='RandomCrop', crop_size=crop_size)," if crop else '')
    text = (f"_base_ = ['{base}']\n{data}\n"
            f"model = dict(\n    {SHRINK[family]})\n{extra}\n")
    path = osp.join(str(tmp_path), name)
    with open(path, 'w') as f:
        f.write(text)
    return path


@pytest.fixture(scope='session')
def runtime_venv():
    """The python of a venv holding requirements/onnx_runtime.txt and
    nothing else (no torch, no OpenMMLab), made once per content of that
    file and kept in <repo>/.venv-onnx-runtime."""
    venv = osp.join(ROOT, '.venv-onnx-runtime')
    with open(ONNX_RUNTIME_REQUIREMENTS, 'rb') as f:
        key = hashlib.sha256(f.read()).hexdigest()
    ready = osp.join(venv, '.ready')
    if not (osp.exists(ready) and open(ready).read() == key):
        subprocess.run([sys.executable, '-m', 'venv', '--clear', venv],
                       check=True, timeout=300)
        subprocess.run([osp.join(venv, 'bin', 'pip'), 'install', '-q',
                        '--no-deps', '-r', ONNX_RUNTIME_REQUIREMENTS],
                       check=True, timeout=900)
        with open(ready, 'w') as f:
            f.write(key)
    return osp.join(venv, 'bin', 'python')


def run_in_venv(python, *args):
    """``python *args`` outside the repository (whose folders would be
    importable from the working directory), without PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([python, *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd=osp.dirname(python))


def export_seeded_model(config, shape, root):
    """The model of ``config`` with seeded random weights, its checkpoint
    written under ``root`` and exported whole by tools/deploy/export_onnx.py
    at the fixed input ``shape`` (H, W): ``(onnx path, model in eval mode,
    cfg)``."""
    import torch
    export = load_tool('deploy/export_onnx')
    torch.manual_seed(0)
    model, cfg = export.build_from_config(config)
    checkpoint = root / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    out = root / 'model.onnx'
    export.main([config, str(checkpoint), '--shape', *map(str, shape),
                 '--out', str(out), '--repeats', '1'])
    return out, model.eval(), cfg
