"""Test (evaluate) an mmdet or mmseg checkpoint (A2Mamba configs included).

The stock ``tools/test.py`` of mmdet 3.x / mmseg 1.x for both frameworks; the
framework comes from the config's ``default_scope``.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE|DIR]
        [--show-dir DIR] [--cfg-options k=v ...] [--launcher pytorch]
        [--allow-partial]

The checkpoint must fit the model: every tensor present with its shape and
nothing extra, or the tool stops and lists the first offending names
(``--allow-partial`` loads it anyway, with a warning).

``--out``: mmdet: a .pkl of the raw results; mmseg: a directory for the
predicted label maps (as the stock mmseg tool). ``--show-dir``: save images
with the predictions drawn by the framework's visualizer.
"""
import argparse
import os.path as osp
import sys


sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _checks import (TEST_SPLITS, check_checkpoint_path,  # noqa: E402
                     check_datasets)
from _common import (add_allow_partial_arg, add_launch_args,  # noqa: E402
                     build_runner, check_checkpoint_fits, load_config,
                     parse_launch_args, read_model_checkpoint,
                     resolve_work_dir, setup_framework)
from _errors import ToolError, run_tool  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a detector or a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or http(s) URL')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out', help='mmdet: pickle file of the results; mmseg: directory '
        'for the predicted segmentation maps')
    parser.add_argument(
        '--show-dir', help='directory to save images with predictions drawn')
    add_allow_partial_arg(parser)
    add_launch_args(parser)
    return parse_launch_args(parser, argv)


def enable_visualization(cfg, framework, show_dir):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ToolError('--show-dir needs default_hooks.visualization in '
                        'the config')
    hook['draw'] = True
    if framework == 'mmdet':
        hook['test_out_dir'] = osp.abspath(show_dir)
    else:
        hook['interval'] = 1
        cfg.visualizer['save_dir'] = osp.abspath(show_dir)


def main(argv=None):
    args = parse_args(argv)
    check_checkpoint_path(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    framework = setup_framework(cfg)
    if args.out and framework == 'mmdet' and \
            not args.out.endswith(('.pkl', '.pickle')):
        raise ToolError('--out must be a .pkl file for mmdet configs')
    check_datasets(cfg, TEST_SPLITS)
    resolve_work_dir(cfg, args.work_dir, args.config)
    from mmmamba.models.utils.checkpoint import fetch_checkpoint, is_url
    checkpoint = (fetch_checkpoint(args.checkpoint) if is_url(args.checkpoint)
                  else args.checkpoint)
    _, state_dict = read_model_checkpoint(checkpoint)
    cfg.load_from = checkpoint
    # the test loop loads the weights; do not read the ImageNet ones
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None
    if args.show_dir:
        enable_visualization(cfg, framework, args.show_dir)
    if args.out and framework == 'mmseg':
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True

    runner = build_runner(cfg, framework)
    # mmengine would load a checkpoint that does not fit with a warning and
    # evaluate partly random weights
    check_checkpoint_fits(runner.model, state_dict, args.checkpoint,
                          args.allow_partial)
    del state_dict
    if args.out and framework == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    return runner.test()


if __name__ == '__main__':
    sys.exit(run_tool(main))
