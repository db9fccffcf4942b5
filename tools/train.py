"""Train an mmdet or mmseg model from a config (A2Mamba configs included).

The stock ``tools/train.py`` of mmdet 3.x / mmseg 1.x, for both frameworks:
the framework comes from the config's ``default_scope``. ``import mmmamba``
registers the A2Mamba models and the ``mmmamba::`` config prefix first, so
downstream configs may say ``_base_ = ['mmmamba::a2mamba/<config>.py']``.

On a machine without CUDA it also runs: ``--amp`` uses bf16 autocast, SyncBN
becomes BN, and ``tools/dist_train.sh`` uses the gloo backend.

Before building anything it checks the config (unknown ``--cfg-options``
keys are warned about, a schedule that ends before training does is
refused), the dataset and pretrained files; ``--resume`` passes over
damaged checkpoints (one line each) to the newest complete one. Errors are
one line on stderr (``--debug`` for the traceback).

    python tools/train.py configs/a2mamba/upernet_a2mamba_t_ade20k.py
    python tools/train.py CONFIG --work-dir DIR --resume [auto|CKPT] --amp \
        --cfg-options model.backbone.init_cfg=None
"""
import argparse
import os.path as osp
import sys


sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _checks import (TRAIN_SPLITS, check_datasets,  # noqa: E402
                     check_schedule)
from _common import (add_launch_args, build_runner,  # noqa: E402
                     check_pretrained, load_config, parse_launch_args,
                     resolve_work_dir, setup_framework, warn)
from _errors import ToolError, run_tool  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector or a '
                                     'segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic-mixed-precision training (bf16 on CPU)')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate to the actual batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a path, from '
        'the latest checkpoint in the work dir')
    add_launch_args(parser)
    return parse_launch_args(parser, argv)


def resume(cfg, requested):
    """Resume from ``requested`` or the newest complete checkpoint of the
    work dir, passing over damaged files; a fresh start when there is no
    checkpoint at all."""
    from mmmamba.utils import ResumeError, find_resumable
    try:
        path = find_resumable(cfg.work_dir, requested, warn=warn)
    except ResumeError as error:
        raise ToolError(str(error)) from error
    if path is None:
        warn(f'--resume: no checkpoint in {cfg.work_dir} yet; training from '
             f'the start')
    cfg.resume = path is not None
    cfg.load_from = path


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    framework = setup_framework(cfg)

    resolve_work_dir(cfg, args.work_dir, args.config)

    if args.amp:
        from mmmamba.utils import enable_amp
        enable_amp(cfg)

    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr \
                and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise ToolError('--auto-scale-lr needs auto_scale_lr = dict('
                            'enable=False, base_batch_size=N) in the config')

    if args.resume is not None:
        resume(cfg, None if args.resume == 'auto' else args.resume)
    check_schedule(cfg, log=warn)
    check_datasets(cfg, TRAIN_SPLITS if cfg.get('val_cfg') else
                   TRAIN_SPLITS[:1])
    check_pretrained(cfg)
    runner = build_runner(cfg, framework)
    runner.train()


if __name__ == '__main__':
    sys.exit(run_tool(main))
