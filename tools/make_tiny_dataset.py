"""Generate tiny, deterministic ADE20K- and COCO-layout datasets.

Synthetic scenes: a noisy grey background with a few coloured rectangles,
ellipses and triangles drawn on it. Every mask is exactly the set of pixels
painted with the shape's colour (later shapes occlude earlier ones), so the
annotations are exact and a model can learn them in a few iterations.

Layout written under ``--out`` (default ``data/tiny``)::

    ade/images/{training,validation}/*.jpg
    ade/annotations/{training,validation}/*.png   # ADE convention: 0 = ignore,
                                                  # 1 = background, 2.. = shapes
    coco/{train2017,val2017}/*.jpg
    coco/annotations/instances_{train,val}2017.json   # RLE masks, bbox, area

The ADE pngs use ADE20K's label convention (``reduce_zero_label=True`` maps
0 to the ignore index and label k to class k-1), so the stock
``ADE20KDataset`` with its 150 class names reads them: background is class 0
(``wall``), the shapes are classes 1-3 (``building``, ``sky``, ``floor``). A
2-pixel band at the bottom of every ADE annotation is 0 (ignored). The COCO
json has three categories (rectangle, ellipse, triangle) and the first image
of each split has no annotations at all.

Image sizes vary per image around ``--size`` (``--size-jitter``), odd sizes
included. The same arguments always give byte-identical files.

    python tools/make_tiny_dataset.py --out data/tiny --num-train 16 \
        --num-val 8 --size 96
"""
import argparse
import json
import os
import os.path as osp

import cv2
import numpy as np

SHAPES = ('rectangle', 'ellipse', 'triangle')
# class-specific base colours (BGR, as cv2 writes them) so colour is a cue
BASE_COLOURS = ((40, 40, 200), (40, 190, 40), (200, 60, 40))
ADE_IGNORE, ADE_BACKGROUND = 0, 1  # shape i gets ADE label i + 2


def parse_size(text):
    """'96' → (96, 96); '128x96' → (H=96, W=128), i.e. WxH as mmcv writes."""
    if 'x' in text:
        w, h = (int(v) for v in text.lower().split('x'))
    else:
        h = w = int(text)
    if min(h, w) < 32:
        raise argparse.ArgumentTypeError(f'size must be >= 32 px, got {text}')
    return h, w


def draw_scene(rng, height, width, max_shapes=4):
    """Return (BGR image, list of (shape index, boolean mask))."""
    img = rng.normal(128, 20, size=(height, width, 3))
    img += rng.normal(0, 10, size=(1, 1, 3))  # per-image tint
    instances = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        kind = int(rng.integers(len(SHAPES)))
        canvas = np.zeros((height, width), np.uint8)
        bh = int(rng.integers(max(8, height // 5), max(9, height // 2)))
        bw = int(rng.integers(max(8, width // 5), max(9, width // 2)))
        y0 = int(rng.integers(0, height - bh))
        x0 = int(rng.integers(0, width - bw))
        if kind == 0:
            cv2.rectangle(canvas, (x0, y0), (x0 + bw - 1, y0 + bh - 1), 1, -1)
        elif kind == 1:
            cv2.ellipse(canvas, (x0 + bw // 2, y0 + bh // 2),
                        (bw // 2, bh // 2), 0, 0, 360, 1, -1)
        else:
            pts = np.array([[x0 + bw // 2, y0], [x0, y0 + bh - 1],
                            [x0 + bw - 1, y0 + bh - 1]], np.int32)
            cv2.fillPoly(canvas, [pts], 1)
        mask = canvas.astype(bool)
        colour = np.array(BASE_COLOURS[kind]) + rng.integers(-25, 26, size=3)
        img[mask] = colour + rng.normal(0, 8, size=(int(mask.sum()), 3))
        # occlusion: earlier masks lose the pixels painted now
        for _, other in instances:
            other &= ~mask
        instances.append((kind, mask))
    img = np.clip(img, 0, 255).astype(np.uint8)
    # drop shapes occluded to (almost) nothing
    instances = [(k, m) for k, m in instances if m.sum() >= 16]
    return img, instances


def image_size(rng, size, jitter):
    h, w = size
    if jitter <= 0:
        return h, w
    scale = 1 + rng.uniform(-jitter, jitter, size=2)
    return max(32, int(round(h * scale[0]))), max(32, int(round(w * scale[1])))


def write_ade_split(root, split, scenes):
    img_dir = osp.join(root, 'images', split)
    ann_dir = osp.join(root, 'annotations', split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    for name, img, instances in scenes:
        seg = np.full(img.shape[:2], ADE_BACKGROUND, np.uint8)
        for kind, mask in instances:
            seg[mask] = kind + 2
        seg[-2:] = ADE_IGNORE
        cv2.imwrite(osp.join(img_dir, name + '.jpg'), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(osp.join(ann_dir, name + '.png'), seg)


def mask_to_rle(mask):
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def write_coco_split(root, split, scenes):
    img_dir = osp.join(root, f'{split}2017')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    images, annotations = [], []
    for image_id, (name, img, instances) in enumerate(scenes, start=1):
        file_name = name + '.jpg'
        cv2.imwrite(osp.join(img_dir, file_name), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=image_id, file_name=file_name,
                           height=img.shape[0], width=img.shape[1]))
        for kind, mask in instances:
            ys, xs = np.nonzero(mask)
            x0, y0 = int(xs.min()), int(ys.min())
            bbox = [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id,
                category_id=kind + 1, bbox=bbox, area=int(mask.sum()),
                segmentation=mask_to_rle(mask), iscrowd=0))
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(SHAPES)]
    with open(osp.join(root, 'annotations', f'instances_{split}2017.json'),
              'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=categories), f)
    return len(images), len(annotations)


def make_scenes(seed, count, size, jitter, prefix, empty_first):
    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(count):
        h, w = image_size(rng, size, jitter)
        img, instances = draw_scene(rng, h, w)
        if empty_first and i == 0:
            instances = []
            img = np.clip(rng.normal(128, 20, size=(h, w, 3)), 0,
                          255).astype(np.uint8)
        scenes.append((f'{prefix}_{i:05d}', img, instances))
    return scenes


def make_tiny_datasets(out='data/tiny', num_train=16, num_val=8, size=96,
                       size_jitter=0.25, seed=0, which=('ade', 'coco')):
    """Write the datasets; returns a summary dict. ``size``: int or (H, W)."""
    if isinstance(size, int):
        size = (size, size)
    summary = {}
    splits = (('train', num_train, seed), ('val', num_val, seed + 1))
    if 'ade' in which:
        for split, count, s in splits:
            ade_split = 'training' if split == 'train' else 'validation'
            scenes = make_scenes(s, count, size, size_jitter,
                                 f'ADE_{split}', empty_first=False)
            write_ade_split(osp.join(out, 'ade'), ade_split, scenes)
        summary['ade'] = osp.join(out, 'ade')
    if 'coco' in which:
        for split, count, s in splits:
            scenes = make_scenes(s + 100, count, size, size_jitter,
                                 f'{split}', empty_first=True)
            n_img, n_ann = write_coco_split(osp.join(out, 'coco'), split,
                                            scenes)
            summary[f'coco_{split}'] = (n_img, n_ann)
        summary['coco'] = osp.join(out, 'coco')
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/tiny')
    parser.add_argument('--num-train', type=int, default=16)
    parser.add_argument('--num-val', type=int, default=8)
    parser.add_argument('--size', type=parse_size, default=(96, 96),
                        help="image size: 'S' or 'WxH' (default 96)")
    parser.add_argument('--size-jitter', type=float, default=0.25,
                        help='relative per-image size variation (0: fixed)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--only', choices=('ade', 'coco'), default=None)
    args = parser.parse_args(argv)
    if args.num_train < 1 or args.num_val < 1:
        parser.error('--num-train and --num-val must be >= 1')
    which = (args.only, ) if args.only else ('ade', 'coco')
    summary = make_tiny_datasets(args.out, args.num_train, args.num_val,
                                 args.size, args.size_jitter, args.seed,
                                 which)
    for key, value in summary.items():
        print(f'{key}: {value}')


if __name__ == '__main__':
    main()
