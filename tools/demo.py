"""Run a trained detector or segmentor on one image and save a PNG.

The framework (mmdet / mmseg) comes from the config's ``default_scope``; the
predictions are drawn by that framework's visualizer (boxes + masks, or the
label map blended over the image).

    python tools/demo.py IMAGE CONFIG CHECKPOINT --out result.png \
        [--score-thr 0.3] [--opacity 0.5] [--device cpu]
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _common import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file (or mmmamba::...)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', default='result.png', help='output PNG')
    parser.add_argument('--device', default=None,
                        help='cuda:0 / cpu (default: cuda if available)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='mmdet: minimum score of drawn instances')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='mmseg: opacity of the drawn label map')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


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
        from mmdet.registry import VISUALIZERS
        extra = dict(pred_score_thr=args.score_thr)
    elif framework == 'mmseg':
        from mmseg.apis import inference_model as infer
        from mmseg.apis import init_model as init
        from mmseg.registry import VISUALIZERS
        extra = dict(with_labels=True)
        cfg.visualizer['alpha'] = args.opacity
    else:
        raise ValueError(f'default_scope must be mmdet or mmseg, got '
                         f'{framework!r}')
    model = init(cfg, args.checkpoint, device=device)
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
