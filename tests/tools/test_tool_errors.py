"""What a user meets when something is wrong: one line on stderr that says
what and what to do, a non-zero exit and no traceback (``--debug`` shows
it); warnings for --cfg-options that match nothing; schedules that follow
the training length or are refused."""
import logging
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from tools_helpers import (CONFIGS, QUICK_DET, QUICK_SEG, ROOT, TOOLS,
                           data_options, load_tool)

run_tool = load_tool('_errors').run_tool

SEG_FULL = osp.join(CONFIGS, 'upernet_a2mamba_t_ade20k.py')
DET_FULL = osp.join(CONFIGS, 'mask_rcnn_a2mamba_t_fpn_1x_coco.py')


def run(tool, argv, capsys):
    """(exit status, stderr lines) of ``tools/<tool>.py argv`` run as from
    the command line."""
    from mmengine.logging import MMLogger
    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:  # made under an earlier test's
            if type(handler) is logging.StreamHandler:  # capture
                handler.stream = sys.stdout
    status = run_tool(load_tool(tool).main, [str(a) for a in argv],
                      tool=f'{tool}.py')
    err = capsys.readouterr().err
    return status, [line for line in err.splitlines() if line.strip()]


def error_line(tool, argv, capsys):
    """The one error line of a failing run (asserting there is one)."""
    status, lines = run(tool, argv, capsys)
    errors = [line for line in lines if f'{tool}.py: error:' in line]
    assert status == 1 and len(errors) == 1, lines
    assert not any('Traceback' in line for line in lines), lines
    return errors[0]


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Untrained weights of the quick-start segmentor and detector, saved
    as a training run would (the tools only need them to fit)."""
    common = load_tool('_common')
    out = tmp_path_factory.mktemp('weights')
    paths = {}
    for kind, config in (('seg', QUICK_SEG), ('det', QUICK_DET)):
        model, _ = common.build_from_config(config)
        paths[kind] = out / f'{kind}.pth'
        torch.save({'state_dict': model.state_dict(), 'meta': {}},
                   paths[kind])
    return paths


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_missing_config(tool, tmp_path, capsys):
    argv = ['configs/a2mamba/no_such_config.py']
    if tool == 'test':
        argv.append(tmp_path / 'x.pth')
        (tmp_path / 'x.pth').write_bytes(b'')
    line = error_line(tool, argv, capsys)
    assert 'no_such_config.py does not exist' in line
    assert 'mmmamba::' in line  # what to give instead


@pytest.mark.parametrize('config, directory, page', [
    (SEG_FULL, 'data/ade/ADEChallengeData2016', 'sceneparsing.csail.mit.edu'),
    (DET_FULL, 'data/coco/', 'cocodataset.org'),
])
def test_missing_dataset_names_directory_key_and_download_page(
        config, directory, page, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = error_line('train', [config, '--cfg-options',
                                'model.backbone.init_cfg=None'], capsys)
    assert 'dataset not found' in line and directory in line
    assert page in line
    assert '--cfg-options train_dataloader.dataset.data_root=DIR' in line


def test_test_tool_checkpoint_errors(checkpoints, tiny_data, tmp_path,
                                     capsys):
    options = ['--cfg-options', *data_options(tiny_data, 'seg')]
    line = error_line('test', [QUICK_SEG, tmp_path / 'missing.pth',
                               *options], capsys)
    assert 'missing.pth does not exist' in line and 'init_cfg' not in line
    assert 'iter_N.pth' in line
    line = error_line('test', [QUICK_SEG, 'http://127.0.0.1:9/m/model.pth',
                               '--work-dir', tmp_path / 'w', *options],
                      capsys)
    assert 'could not download checkpoint http://127.0.0.1:9/m/model.pth' \
        in line
    assert 'init_cfg' not in line


def test_demo_errors_and_tiny_images(checkpoints, tmp_path, capsys):
    """A missing file, a non-image and an image too thin for the model get
    one line each (the thin one in the user's size); a 1x1 image gives a
    readable picture."""
    ckpt = checkpoints['seg']
    out = tmp_path / 'out.png'
    line = error_line('demo', [tmp_path / 'none.png', QUICK_SEG, ckpt,
                               '--out', out], capsys)
    assert 'none.png does not exist' in line
    (tmp_path / 'text.png').write_text('not an image')
    line = error_line('demo', [tmp_path / 'text.png', QUICK_SEG, ckpt,
                               '--out', out], capsys)
    assert 'is not an image' in line
    cv2.imwrite(str(tmp_path / 'thin.png'), np.zeros((4, 400, 3), np.uint8))
    line = error_line('demo', [tmp_path / 'thin.png', QUICK_SEG, ckpt,
                               '--out', out], capsys)
    assert '400x4 px' in line and '(1, 96)' not in line
    cv2.imwrite(str(tmp_path / 'one.png'), np.full((1, 1, 3), 90, np.uint8))
    line = error_line('demo', [tmp_path / 'one.png', QUICK_SEG, ckpt,
                               '--out', tmp_path / 'no_dir' / 'x.png'],
                      capsys)
    assert 'no_dir does not exist; create it first' in line
    status, _ = run('demo', [tmp_path / 'one.png', QUICK_SEG, ckpt, '--out',
                             out], capsys)
    assert status == 0
    picture = cv2.imread(str(out))
    assert picture.shape[0] >= 512 and picture.shape[1] >= 2 * 512


def test_demo_draws_input_ground_truth_and_prediction(checkpoints,
                                                      tiny_data, tmp_path,
                                                      capsys):
    """Three panels, each enlarged by a whole factor to >= 512 px; the
    input panel is the image repeated pixel by pixel (nearest)."""
    pic = load_tool('_picture')
    for kind, gt_of in (
            ('seg', lambda image: str(image).replace(
                'images', 'annotations').replace('.jpg', '.png')),
            ('det', lambda image: tiny_data / 'coco' / 'annotations' /
             'instances_val2017.json')):
        folder = tiny_data / ('ade/images/validation' if kind == 'seg'
                              else 'coco/val2017')
        image = sorted(folder.iterdir())[1]
        out = tmp_path / f'{kind}.png'
        status, lines = run('demo', [
            image, QUICK_SEG if kind == 'seg' else QUICK_DET,
            checkpoints[kind], '--gt', gt_of(image), '--out', out,
            '--score-thr', '0'], capsys)
        assert status == 0, lines
        source = cv2.imread(str(image))
        factor = pic.scale_factor(source.shape)
        h, w = source.shape[:2]
        assert max(h, w) * factor >= 512
        picture = cv2.imread(str(out))
        assert picture.shape[1] == 3 * w * factor + 4 * pic.GAP
        top = pic.GAP + pic.TITLE_H
        panel = picture[top:top + h * factor, pic.GAP:pic.GAP + w * factor]
        assert np.array_equal(panel, pic.enlarge(source, factor))


def test_resume_with_only_damaged_checkpoints(tmp_path, capsys):
    (tmp_path / 'iter_2.pth').write_bytes(b'PK\x03\x04 half a file')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    status, lines = run('train', [QUICK_SEG, '--work-dir', tmp_path,
                                  '--resume'], capsys)
    assert status == 1
    assert any('skipping checkpoint' in line and 'iter_2.pth' in line
               and 'truncated' in line for line in lines)
    assert 'no usable checkpoint' in lines[-1]
    line = error_line('train', [QUICK_SEG, '--work-dir', tmp_path,
                                '--resume', tmp_path / 'iter_9.pth'], capsys)
    assert 'iter_9.pth: no such file' in line


def test_cfg_options_typos_are_warned_with_the_closest_key(capsys):
    common = load_tool('_common')
    cfg = common.load_config(QUICK_SEG, {
        'train_dataloder.batch_size': 1, 'train_cfg.max_iter': 5,
        'default_hooks.checkpoint.max_keep_ckpts': 1,
        'model.backbone.arch': 'nano'})
    err = capsys.readouterr().err
    assert ('--cfg-options train_dataloder.batch_size: the config has no '
            'such key; did you mean train_dataloader?') in err
    assert 'did you mean train_cfg.max_iters?' in err
    assert 'max_keep_ckpts' not in err and 'arch' not in err  # real keys
    assert cfg.model.backbone.arch == 'nano'
    unknown = load_tool('_checks').unknown_option_keys
    assert unknown(cfg._cfg_dict, ['param_scheduler.7.end', 'model.bakbone.x',
                                   'model.backbone.init_cfg.checkpoint']) == [
        ('param_scheduler.7.end', None),
        ('model.bakbone.x', 'model.backbone')]


def test_schedule_follows_the_training_length_or_is_refused(capsys):
    common, checks = load_tool('_common'), load_tool('_checks')
    cfg = common.load_config(QUICK_SEG, {'train_cfg.max_iters': 3000})
    assert [s.get('end') for s in cfg.param_scheduler] == [20, 3000]
    cfg = common.load_config(QUICK_DET, {'train_cfg.max_epochs': 30})
    assert cfg.param_scheduler[1].end == 30
    assert cfg.param_scheduler[0].end == 20  # iterations: another unit
    # an end set with the length is kept, and refused when it is too early
    cfg = common.load_config(QUICK_SEG, {'train_cfg.max_iters': 3000,
                                         'param_scheduler.1.end': 200})
    with pytest.raises(checks.ToolError,
                       match=r'ends at iteration 200 but training runs to '
                       r'3000.*param_scheduler\.1\.end=3000'):
        checks.check_schedule(cfg, log=print)
    # a run shorter than the warm-up drops the scheduler that never starts
    cfg = common.load_config(QUICK_SEG, {'train_cfg.max_iters': 4})
    checks.check_schedule(cfg, log=print)
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR']
    assert 'begins at iteration 20, after training ends' in \
        capsys.readouterr().out


def test_command_line_error_is_one_line_and_debug_shows_traceback(
        tmp_path):
    argv = [sys.executable, osp.join(TOOLS, 'train.py'), 'missing.py']
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop('MMMAMBA_DEBUG', None)
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        'train.py: error: config missing.py does not exist; give a .py '
        'config such as configs/a2mamba/upernet_a2mamba_t_ade20k.py, or '
        'mmmamba::a2mamba/<name>.py']
    proc = subprocess.run(argv + ['--debug'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'Traceback' in proc.stderr
