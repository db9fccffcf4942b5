"""Run a trained detector or segmentor on one image and save a picture.

The framework (mmdet / mmseg) comes from the config's ``default_scope``. The
picture shows the input, the ground truth (with ``--gt``) and the
prediction side by side, each enlarged (nearest neighbour) to at least 512
px on its long side: class names on the boxes (mmdet, with scores) or in a
legend under the label map (mmseg, with each class's mean confidence).

    python tools/demo.py IMAGE CONFIG CHECKPOINT --out result.png \
        [--gt LABELS.png | --gt instances.json] [--score-thr 0.3] \
        [--opacity 0.5] [--device cpu] [--allow-partial]

The checkpoint must fit the model (see tools/test.py); class names come from
its ``meta`` (as the runner saves them), else from the config's test set.
Errors are one line on stderr (``--debug`` for the traceback).
"""
import argparse
import os.path as osp
import sys
import warnings

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _picture as pic  # noqa: E402
from _checks import check_checkpoint_path, check_output_file  # noqa: E402
from _common import (add_allow_partial_arg,  # noqa: E402
                     check_checkpoint_fits, load_config,
                     read_model_checkpoint)
from _errors import DEBUG_HELP, ToolError, run_tool  # noqa: E402
from mmengine.config import DictAction  # noqa: E402


MAX_INSTANCES = 20  # drawn at most, the best scores


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog=DEBUG_HELP)
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file (or mmmamba::...)')
    parser.add_argument('checkpoint', help='checkpoint file or http(s) URL')
    parser.add_argument('--out', default='result.png', help='output PNG')
    parser.add_argument(
        '--gt', help='ground truth to draw beside the prediction: mmseg: '
        'the label PNG of the image; mmdet: a COCO annotation file (.json) '
        'that lists the image')
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


def read_image(path):
    """The image at ``path`` as RGB uint8, or a one-line error."""
    import cv2
    if not osp.isfile(path):
        raise ToolError(f'image {path} does not exist')
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ToolError(f'{path} is not an image OpenCV can read (give a '
                        f'.jpg, .png, .bmp or .tif file)')
    return image[..., ::-1].copy()


def palette_of(meta):
    """One RGB colour per class: the dataset's, else a fixed spread."""
    import numpy as np
    classes = meta.get('classes') or ()
    palette = meta.get('palette')
    if palette and len(palette) >= len(classes):
        return [tuple(int(v) for v in c) for c in palette]
    rng = np.random.default_rng(0)
    return [tuple(int(v) for v in rng.integers(40, 256, 3))
            for _ in classes]


def reduces_zero_label(cfg):
    """True when the config's test annotations shift labels by one (ADE20K:
    0 = ignore)."""
    dataset = cfg.test_dataloader.dataset
    steps = [t for t in dataset.get('pipeline', [])
             if t.get('type') == 'LoadAnnotations']
    found = [t['reduce_zero_label'] for t in steps
             if 'reduce_zero_label' in t]
    return bool(found[0] if found else dataset.get('reduce_zero_label'))


def seg_panels(image, result, gt_path, cfg, meta, opacity, factor):
    """(ground truth or None, prediction) panels of a segmentation."""
    import cv2
    import numpy as np
    classes, palette = meta['classes'], palette_of(meta)
    big = pic.enlarge(image, factor)
    labels = result.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
    confidence = result.seg_logits.data.softmax(0).max(0).values.cpu(
        ).numpy() if 'seg_logits' in result else None
    entries = []
    for c in sorted(np.unique(labels), key=lambda c: -(labels == c).sum()):
        score = f' {confidence[labels == c].mean():.2f}'             if confidence is not None else ''
        entries.append((c, f'{classes[c]}{score}'))
    pred = pic.titled(pic.draw_label_map(big, labels.astype(np.uint8),
                                         palette, factor, opacity),
                      'prediction (class, mean score)',
                      pic.legend(big.shape[1], entries, palette))
    if gt_path is None:
        return None, pred
    gt = cv2.imread(gt_path, cv2.IMREAD_UNCHANGED)
    if gt is None or gt.shape[:2] != image.shape[:2]:
        raise ToolError(f'--gt {gt_path}: not a label image of the input\'s '
                        f'size {image.shape[1]}x{image.shape[0]}')
    gt = gt.astype(np.int64) if gt.ndim == 2 else gt[..., 0].astype(np.int64)
    if reduces_zero_label(cfg):
        gt = np.where(gt == 0, pic.IGNORE, gt - 1)
    gt[(gt < 0) | (gt >= len(classes))] = pic.IGNORE
    present = [c for c in np.unique(gt) if c != pic.IGNORE]
    panel = pic.titled(
        pic.draw_label_map(big, gt.astype(np.uint8), palette, factor,
                           opacity), 'ground truth',
        pic.legend(big.shape[1], [(c, classes[c]) for c in present],
                   palette))
    return panel, pred


def coco_instances(json_path, image_name, classes, shape):
    """(boxes, labels, masks) of ``image_name`` in a COCO annotation file."""
    import json

    import cv2
    import numpy as np
    with open(json_path) as f:
        coco = json.load(f)
    images = [i for i in coco.get('images', [])
              if osp.basename(i['file_name']) == image_name]
    if not images:
        raise ToolError(f'--gt {json_path} does not list an image named '
                        f'{image_name}')
    names = {c['id']: c['name'] for c in coco.get('categories', [])}
    boxes, labels, masks = [], [], []
    for ann in coco.get('annotations', []):
        name = names.get(ann['category_id'])
        if ann['image_id'] != images[0]['id'] or name not in classes:
            continue
        x, y, w, h = ann['bbox']
        boxes.append([x, y, x + w, y + h])
        labels.append(classes.index(name))
        mask = np.zeros(shape[:2], np.uint8)
        for polygon in ann.get('segmentation') or []:
            if isinstance(polygon, list):
                points = np.asarray(polygon).reshape(-1, 2).round()
                cv2.fillPoly(mask, [points.astype(np.int32)], 1)
        masks.append(mask)
    return (np.asarray(boxes).reshape(-1, 4), labels,
            np.asarray(masks).reshape(-1, *shape[:2]))


def det_panels(image, result, gt_path, image_name, meta, score_thr,
               factor):
    """(ground truth or None, prediction) panels of a detection."""
    classes, palette = list(meta['classes']), palette_of(meta)
    big = pic.enlarge(image, factor)
    pred = result.pred_instances
    keep = pred.scores >= score_thr
    if keep.sum() > MAX_INSTANCES:  # the best MAX_INSTANCES only
        keep &= pred.scores >= pred.scores.topk(MAX_INSTANCES).values[-1]
    masks = pred.masks[keep].cpu().numpy() if 'masks' in pred else None
    drawn = pic.draw_instances(
        big, pred.bboxes[keep].cpu().numpy(), pred.labels[keep].tolist(),
        classes, palette, factor, scores=pred.scores[keep].tolist(),
        masks=masks)
    title = f'prediction ({int(keep.sum())} with score >= {score_thr:g})'
    panel = pic.titled(drawn, title)
    if gt_path is None:
        return None, panel
    boxes, labels, masks = coco_instances(gt_path, image_name, classes,
                                          image.shape)
    gt = pic.titled(pic.draw_instances(big, boxes, labels, classes, palette,
                                       factor, masks=masks),
                    f'ground truth ({len(labels)})')
    return gt, panel


def infer_checked(infer, model, path, image):
    """``infer(model, path)``; an image too small for the model after the
    config's resize is reported in the user's pixels."""
    try:
        return infer(model, path)
    except (RuntimeError, ValueError, AssertionError) as error:
        height, width = image.shape[:2]
        if 'at least' not in str(error):
            raise
        raise ToolError(
            f'{path} ({width}x{height} px) is too small or too thin for the '
            f'model: its input must be at least 32x32 px after the '
            f'config\'s test resize (which keeps the aspect ratio); give a '
            f'larger or less elongated image') from error


def main(argv=None):
    args = parse_args(argv)
    image = read_image(args.img)
    check_checkpoint_path(args.checkpoint)
    check_output_file(args.out)
    if args.gt is not None and not osp.isfile(args.gt):
        raise ToolError(f'--gt {args.gt} does not exist')
    import cv2
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
        from mmdet.registry import DATASETS
    elif framework == 'mmseg':
        from mmseg.apis import inference_model as infer
        from mmseg.apis import init_model as init
        from mmseg.registry import DATASETS
    else:
        raise ToolError(f'default_scope must be mmdet or mmseg, got '
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
    result = infer_checked(infer, model, args.img, image)

    factor = pic.scale_factor(image.shape)
    if framework == 'mmseg':
        gt, pred = seg_panels(image, result, args.gt, cfg, model.dataset_meta,
                              args.opacity, factor)
    else:
        gt, pred = det_panels(image, result, args.gt, osp.basename(args.img),
                              model.dataset_meta, args.score_thr, factor)
    height, width = image.shape[:2]
    scale = f', shown x{factor}' if factor > 1 else ''
    panels = [pic.titled(pic.enlarge(image, factor),
                         f'input ({width}x{height} px{scale})')]
    picture = pic.side_by_side(panels + [p for p in (gt, pred)
                                         if p is not None])
    if not cv2.imwrite(args.out, picture[..., ::-1]):
        raise ToolError(f'could not write {args.out} (give a .png or .jpg '
                        f'name)')
    print(f'saved {args.out}')
    return result


if __name__ == '__main__':
    sys.exit(run_tool(main))
