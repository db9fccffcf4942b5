"""Train an mmdet or mmseg model from a config (A2Mamba configs included).

The stock ``tools/train.py`` of mmdet 3.x / mmseg 1.x, for both frameworks:
the framework comes from the config's ``default_scope``. ``import mmmamba``
registers the A2Mamba models and the ``mmmamba::`` config prefix first, so
downstream configs may say ``_base_ = ['mmmamba::a2mamba/<config>.py']``.

On a machine without CUDA it also runs: ``--amp`` uses bf16 autocast, SyncBN
becomes BN, and ``tools/dist_train.sh`` uses the gloo backend.

    python tools/train.py configs/a2mamba/upernet_a2mamba_t_ade20k.py
    python tools/train.py CONFIG --work-dir DIR --resume [auto|CKPT] --amp \
        --cfg-options model.backbone.init_cfg=None
"""
import argparse
import os.path as osp
import sys


sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _common import (add_launch_args, build_runner,  # noqa: E402
                     check_pretrained, load_config, parse_launch_args,
                     setup_framework)


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


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    framework = setup_framework(cfg)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        from mmmamba.utils import enable_amp
        enable_amp(cfg)

    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr \
                and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or '
                               '"auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your'
                               ' configuration file.')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    check_pretrained(cfg)
    runner = build_runner(cfg, framework)
    runner.train()


if __name__ == '__main__':
    main()
