"""Run a trained detector or segmentor on one image and save a PNG.

The framework (mmdet / mmseg) comes from the config's ``default_scope``; the
predictions are drawn by that framework's visualizer (boxes + masks, or the
label map blended over the image).

    python tools/demo.py IMAGE CONFIG CHECKPOINT --out result.png \
        [--score-thr 0.3] [--opacity 0.5] [--device cpu] [--allow-partial]

The checkpoint must fit the model (see tools/test.py); class names come from
its ``meta`` (as the runner saves them), else from the config's test set.
"""
import argparse
import os
import os.path as osp
import sys
import warnings

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _common import (add_allow_partial_arg,  # noqa: E402
                     check_checkpoint_fits, load_config,
                     read_model_checkpoint)
from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file (or mmmamba::...)')
    parser.add_argument('checkpoint', help='checkpoint file or http(s) URL')
    parser.add_argument('--out', default='result.png', help='output PNG')
    parser.add_argument('--device', default=None,
                        help='cuda:0 / cpu (default: cuda if available)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='mmdet: minimum score of drawn instances')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='mmseg: opacity of the drawn label map')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    add_allow_partial_arg(parser)
    return parser.parse_args(argv)


def dataset_meta(checkpoint, cfg, datasets):
    """Class names (and palette) saved in the checkpoint, else those of the
    config's test set."""
    meta = checkpoint.get('meta') or {}
    if meta.get('dataset_meta'):
        return dict(meta['dataset_meta'])
    dataset = cfg.test_dataloader.dataset
    found = dict(getattr(datasets.get(dataset.type), 'METAINFO', {}))
    found.update(dataset.get('metainfo') or {})
    return found


def main(argv=None):
    args = parse_args(argv)
    import mmcv
    import torch

    from mmmamba.utils import sync_bn_to_bn
    cfg = load_config(args.config, args.cfg_options)
    device = args.device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    if not device.startswith('cuda'):
        sync_bn_to_bn(cfg._cfg_dict)
    cfg.model.backbone.init_cfg = None  # the checkpoint has all weights
    framework = cfg.get('default_scope')
    if framework == 'mmdet':
        from mmdet.apis import inference_detector as infer
        from mmdet.apis import init_detector as init
        from mmdet.registry import DATASETS, VISUALIZERS
        extra = dict(pred_score_thr=args.score_thr)
    elif framework == 'mmseg':
        from mmseg.apis import inference_model as infer
        from mmseg.apis import init_model as init
        from mmseg.registry import DATASETS, VISUALIZERS
        extra = dict(with_labels=True)
        cfg.visualizer['alpha'] = args.opacity
    else:
        raise ValueError(f'default_scope must be mmdet or mmseg, got '
                         f'{framework!r}')
    checkpoint, state_dict = read_model_checkpoint(args.checkpoint)
    with warnings.catch_warnings():  # the weights are loaded below
        warnings.filterwarnings('ignore', 'checkpoint is None')
        model = init(cfg, None, device=device)
    check_checkpoint_fits(model, state_dict, args.checkpoint,
                          args.allow_partial)
    model.load_state_dict(state_dict, strict=False)
    model.dataset_meta = {**(getattr(model, 'dataset_meta', None) or {}),
                          **dataset_meta(checkpoint, cfg, DATASETS)}
    result = infer(model, args.img)

    vis_cfg = dict(cfg.visualizer)
    vis_cfg['name'] = f'demo_visualizer_{os.getpid()}'
    vis_cfg.pop('vis_backends', None)  # draw only; save to --out
    vis_cfg.pop('save_dir', None)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = model.dataset_meta
    image = mmcv.imread(args.img, channel_order='rgb')
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    visualizer.add_datasample(
        'result', image, data_sample=result, draw_gt=False, show=False,
        out_file=args.out, **extra)
    print(f'saved {args.out}')
    return result


if __name__ == '__main__':
    main()
