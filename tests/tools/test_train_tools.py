"""tools/train.py and tools/test.py on generated data (CPU, tiny arch)."""
import math
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from tools_helpers import (CONFIGS, QUICK_SEG, ROOT, data_options,
                           downstream_config, load_tool, read_log,
                           read_scalars, run_train)

SEG_METRIC = 'mIoU:'
DET_METRICS = ('coco/bbox_mAP:', 'coco/segm_mAP:')


def assert_metrics(log, seg):
    for key in ((SEG_METRIC, ) if seg else DET_METRICS):
        assert key in log, f'{key} missing from the log'


# Each real config, shrunk to the 'test' arch, trains one iteration and
# validates; UperNet and Mask R-CNN are inherited the downstream way
# (mmmamba::), the others by path.
REAL = [
    ('mmmamba::a2mamba/upernet_a2mamba_t_ade20k.py', True),
    ('mmmamba::a2mamba/mask_rcnn_a2mamba_t_fpn_1x_coco.py', False),
    ('cascade_mask_rcnn_a2mamba_t_fpn_3x_coco.py', False),
    ('mask_rcnn_a2mamba_t_massfpn_1x_coco.py', False),
    ('semfpn_a2mamba_t_massfpn_ade20k.py', True),
]


@pytest.mark.parametrize('base,seg', REAL, ids=lambda v: str(v)[-30:])
def test_one_iteration_of_real_config(base, seg, tiny_data, tmp_path):
    if '::' not in base:
        base = osp.join(CONFIGS, base)
    config = downstream_config(tmp_path, base, tiny_data)
    log = run_train(config, tmp_path / 'work')
    assert 'Iter(train) [1/1]' in log or 'Epoch(train) [1]' in log
    assert_metrics(log, seg)


def test_quickstart_seg_train_then_test_tool(tiny_data, tmp_path):
    work = tmp_path / 'work'
    log = run_train(QUICK_SEG, work, data_options(tiny_data, 'seg') + [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2'])
    assert_metrics(log, seg=True)
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file()
    test = load_tool('test')
    shows = tmp_path / 'show'
    metrics = test.main([QUICK_SEG, str(ckpt), '--work-dir',
                         str(tmp_path / 'test'), '--show-dir', str(shows),
                         '--cfg-options', *data_options(tiny_data, 'seg')])
    assert 'mIoU' in metrics
    pngs = [f for _, _, fs in os.walk(shows) for f in fs
            if f.endswith(('.png', '.jpg'))]
    assert len(pngs) == 2
    # tools/demo.py: image in, picture with the prediction drawn out
    import cv2
    image = next((tiny_data / 'ade/images/validation').iterdir())
    out = tmp_path / 'demo.png'
    load_tool('demo').main([str(image), QUICK_SEG, str(ckpt), '--out',
                            str(out)])
    drawn, original = cv2.imread(str(out)), cv2.imread(str(image))
    assert max(drawn.shape[:2]) >= 512 > max(original.shape[:2])
    assert 'mmmamba op selective_scan_states: cpu' in log  # backends logged
    check_misfit_checkpoint_is_refused(ckpt, image, tiny_data, tmp_path)


def check_misfit_checkpoint_is_refused(ckpt, image, tiny_data, tmp_path):
    """test.py and demo.py stop on a checkpoint that does not fit the model
    (mmengine alone would warn and evaluate partly random weights), naming
    the first missing and unexpected tensors; --allow-partial goes on."""
    checkpoint = torch.load(ckpt, map_location='cpu', weights_only=True)
    weights = checkpoint['state_dict']
    missing = 'backbone.stages.0.blocks.0.mixer.rpb'
    weights.pop(missing)
    weights['backbone.extra.weight'] = torch.zeros(1)
    bad = tmp_path / 'misfit.pth'
    torch.save({'state_dict': weights}, bad)  # no meta either
    args = [QUICK_SEG, str(bad), '--work-dir', str(tmp_path / 'misfit'),
            '--cfg-options', *data_options(tiny_data, 'seg')]
    test_tool = load_tool('test')
    from _errors import ToolError  # the class the loaded tools raise
    with pytest.raises(ToolError) as error:
        test_tool.main(args)
    assert missing in str(error.value)
    assert 'backbone.extra.weight' in str(error.value)
    assert '1 missing' in str(error.value) and '--allow-partial' in str(
        error.value)
    with pytest.raises(ToolError, match='1 unexpected'):
        load_tool('demo').main([str(image), QUICK_SEG, str(bad), '--out',
                                str(tmp_path / 'misfit.png')])
    assert 'mIoU' in load_tool('test').main(args[:2] + ['--allow-partial'] +
                                             args[2:])
    load_tool('demo').main([str(image), QUICK_SEG, str(bad), '--out',
                            str(tmp_path / 'misfit.png'), '--allow-partial'])
    assert (tmp_path / 'misfit.png').is_file()


def state_dict(path):
    return torch.load(path, map_location='cpu', weights_only=True)[
        'state_dict']


def test_resume_matches_uninterrupted_run(tiny_data, tmp_path):
    """Resume from iter 2 of 4 gives the same final weights."""
    options = data_options(tiny_data, 'seg') + [
        'train_cfg.max_iters=4', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2',
        'model.decode_head.dropout_ratio=0',
        'model.auxiliary_head.dropout_ratio=0',
        'param_scheduler.0.end=2', 'param_scheduler.1.begin=2',
        'param_scheduler.1.end=4']
    full = tmp_path / 'full'
    run_train(QUICK_SEG, full, options)
    resumed = tmp_path / 'resumed'
    resumed.mkdir()
    shutil.copy(full / 'iter_2.pth', resumed / 'iter_2.pth')
    (resumed / 'last_checkpoint').write_text(str(resumed / 'iter_2.pth'))
    log = run_train(QUICK_SEG, resumed, options, extra=['--resume'])
    assert 'resumed' in log.lower() or 'Resume' in log
    a, b = state_dict(full / 'iter_4.pth'), state_dict(resumed / 'iter_4.pth')
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # weights-only loading stayed on; only data classes were allow-listed
    allowed = torch.serialization.get_safe_globals()
    assert getattr not in allowed
    assert any(getattr(g, '__name__', '') == 'HistoryBuffer'
               for g in allowed)


def test_amp_bf16_on_cpu_is_finite(tiny_data, tmp_path):
    from mmmamba.utils import CPUAmpOptimWrapper
    work = tmp_path / 'work'
    log = run_train(QUICK_SEG, work, data_options(tiny_data, 'seg') + [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.logger.interval=1'], extra=['--amp'])
    assert CPUAmpOptimWrapper.__name__ in log
    losses = [s['loss'] for s in read_scalars(work) if 'loss' in s]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert_metrics(log, seg=True)


def test_mmcv_ops_run_under_cpu_autocast():
    """NMS and RoIAlign (no bf16 CPU kernels) work inside bf16 autocast."""
    from mmcv.ops import RoIAlign, batched_nms

    from mmmamba.utils.runtime import run_mmcv_ops_in_fp32
    run_mmcv_ops_in_fp32()
    feats = torch.randn(1, 4, 16, 16, requires_grad=True)
    rois = torch.tensor([[0., 1., 1., 9., 9.], [0., 2., 3., 12., 15.]])
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = torch.nn.functional.conv2d(feats, torch.randn(4, 4, 1, 1))
        out = RoIAlign((7, 7), 1.0, 0)(x, rois)
        scores = x.mean((1, 2, 3)).expand(2).sigmoid()
        dets, keep = batched_nms(boxes, scores, torch.tensor([0, 0]),
                                 dict(iou_threshold=0.5))
    assert out.dtype == torch.bfloat16 and keep.numel() >= 1
    out.float().sum().backward()
    assert torch.isfinite(feats.grad).all()


@pytest.mark.parametrize('size', ['128x96', '224x160', '1333x800'])
def test_any_image_size_trains_and_tests(size, tmp_path):
    """Full images (no resize, no crop) of odd shapes train and validate.

    Segmentation uses batch 2: UperNet's 1x1 pooling branch has BatchNorm,
    which cannot train on a single 1x1 value (as for any mmseg model). At
    1333x800 only detection runs by default (its usual size; the pair costs
    minutes on 2 cores); MMMAMBA_LARGE_TESTS=1 adds segmentation.
    """
    make = load_tool('make_tiny_dataset')
    w, h = (int(v) for v in size.split('x'))
    make.make_tiny_datasets(str(tmp_path / 'data'), 2, 1, (h, w),
                            size_jitter=0, seed=3)
    runs = [(osp.join(CONFIGS, 'mask_rcnn_a2mamba_t_fpn_1x_coco.py'),
             'det.py', 1)]
    if w < 1000 or os.environ.get('MMMAMBA_LARGE_TESTS') == '1':
        runs.append((osp.join(CONFIGS, 'upernet_a2mamba_t_ade20k.py'),
                     'seg.py', 2))
    for base, name, batch in runs:
        # det: the split's first image is empty; filter it (1 iteration)
        config = downstream_config(tmp_path, base, tmp_path / 'data',
                                   name=name, batch=batch, crop=False,
                                   filter_empty=True, indices=None)
        work = tmp_path / ('work_' + name[:3])
        log = run_train(config, work)
        assert_metrics(log, seg=name == 'seg.py')


def test_coco_batch_with_an_image_without_annotations(tiny_data, tmp_path):
    """Image 1 of the generated COCO split has no annotations."""
    base = osp.join(CONFIGS, 'mask_rcnn_a2mamba_t_fpn_1x_coco.py')
    config = downstream_config(tmp_path, base, tiny_data, batch=2,
                               filter_empty=False, indices=2,
                               aspect_ratio_batches=False)
    log = run_train(config, tmp_path / 'work')
    assert 'Epoch(train) [1][1/1]' in log
    assert_metrics(log, seg=False)


def test_dist_train_two_cpu_processes(tiny_data, tmp_path):
    work = tmp_path / 'work'
    env = dict(os.environ, PYTHON=sys.executable, PORT='29517',
               OMP_NUM_THREADS='1')
    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), QUICK_SEG, '2',
           '--work-dir', str(work), '--cfg-options',
           *data_options(tiny_data, 'seg'), 'train_cfg.max_iters=2',
           'train_cfg.val_interval=2', 'model.backbone.norm_cfg.type=SyncBN']
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = read_log(work)
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log or 'world_size: 2' in log.lower() \
        or 'World Size' in log
    assert SEG_METRIC in log
    assert (work / 'iter_2.pth').is_file()
