"""Item e: one UperNet training iteration through tools/train.py on the
generated ADE20K-layout data, where mmseg's models import (they need mmcv's
compiled ops); else the reason it cannot run."""
import json
import math
import os
import os.path as osp
import shutil

from mmmamba.devtools import load_script

from .common import ItemResult

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def why_not():
    """None when tools/train.py can build an mmseg segmentor here, else
    why not."""
    try:
        import mmseg.models  # noqa: F401
    except Exception as error:  # noqa: BLE001  (the reason is the result)
        return (f'`import mmseg.models` fails ({type(error).__name__}: '
                f'{error}); among others it needs mmcv with its compiled ops, '
                f'which have no wheel for this torch (a source build takes '
                f'about 10 min)')
    return None


def _losses(work_dir):
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r['loss'] for r in records if 'loss' in r]


def train_one_iteration(profile, out_dir):
    """Item e."""
    reason = why_not()
    if reason:
        return ItemResult('SKIP', reason)
    data = osp.join(out_dir, 'tiny_data')
    load_script(osp.join(ROOT, 'tools', 'make_tiny_dataset.py')).main(
        ['--out', data, '--only', 'ade'])
    work_dir = osp.join(out_dir, 'train_tool')
    shutil.rmtree(work_dir, ignore_errors=True)
    config = osp.join(ROOT, 'configs', 'a2mamba', profile.train_tool_config)
    load_script(osp.join(ROOT, 'tools', 'train.py')).main([
        config, '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_iters=1', f'train_dataloader.dataset.data_root='
        f'{osp.join(data, "ade")}', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_cfg=None',
        'val_dataloader=None', 'val_evaluator=None',
        'default_hooks.logger.interval=1'])
    losses = _losses(work_dir)
    name = osp.basename(config)
    if len(losses) != 1 or not math.isfinite(losses[0]):
        return ItemResult('FAIL', f'{name}: expected one finite loss, got '
                          f'{losses}')
    return ItemResult('PASS', f'{name}: one iteration, loss '
                      f'{losses[0]:.3f}', dict(losses=losses))
