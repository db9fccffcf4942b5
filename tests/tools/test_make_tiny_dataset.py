"""tools/make_tiny_dataset.py: layout, determinism, exact masks."""
import filecmp
import json
import os
import os.path as osp

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from tools_helpers import load_tool

make = load_tool('make_tiny_dataset')


def test_layout_and_determinism(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    make.main(['--out', str(a), '--num-train', '3', '--num-val', '2',
               '--size', '64'])
    make.main(['--out', str(b), '--num-train', '3', '--num-val', '2',
               '--size', '64'])
    cmp = filecmp.dircmp(a, b)
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    for sub in ('ade', 'coco'):
        for root, _, files in os.walk(a / sub):
            for name in files:
                other = osp.join(b, osp.relpath(osp.join(root, name), a))
                assert filecmp.cmp(osp.join(root, name), other, shallow=False)
    assert len(os.listdir(a / 'ade/images/training')) == 3
    assert len(os.listdir(a / 'ade/annotations/validation')) == 2
    assert len(os.listdir(a / 'coco/train2017')) == 3
    assert osp.isfile(a / 'coco/annotations/instances_val2017.json')


def test_ade_labels_follow_ade_convention(tmp_path):
    make.make_tiny_datasets(str(tmp_path), 2, 1, 64, which=('ade', ))
    seg = cv2.imread(str(tmp_path / 'ade/annotations/training/'
                         'ADE_train_00000.png'), cv2.IMREAD_UNCHANGED)
    img = cv2.imread(str(tmp_path / 'ade/images/training/'
                         'ADE_train_00000.jpg'))
    assert seg.shape == img.shape[:2] and seg.dtype == np.uint8
    assert set(np.unique(seg)) <= {0, 1, 2, 3, 4}
    assert (seg[-2:] == 0).all() and 1 in seg


def test_coco_annotations_exact_and_empty_image(tmp_path):
    make.make_tiny_datasets(str(tmp_path), 4, 2, (70, 90), size_jitter=0,
                            which=('coco', ))
    ann_file = tmp_path / 'coco/annotations/instances_train2017.json'
    coco = COCO(str(ann_file))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == [
        'rectangle', 'ellipse', 'triangle']
    empty = [i for i in coco.getImgIds() if not coco.getAnnIds(imgIds=i)]
    assert empty == [1]
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann['image_id'])[0]
        assert (img['height'], img['width']) == (70, 90)
        mask = mask_utils.decode(ann['segmentation'])
        assert mask.sum() == ann['area'] and ann['iscrowd'] == 0
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann['bbox']
        assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(),
                                                xs.max(), ys.max())
    with open(ann_file) as f:
        assert json.load(f)['images'][0]['file_name'] == 'train_00000.jpg'


def test_sizes_vary_and_are_odd(tmp_path):
    make.make_tiny_datasets(str(tmp_path), 6, 1, 64, size_jitter=0.3,
                            which=('ade', ))
    shapes = {cv2.imread(str(p)).shape[:2]
              for p in (tmp_path / 'ade/images/training').iterdir()}
    assert len(shapes) > 1 and min(min(s) for s in shapes) >= 32
    assert any(h % 2 or w % 2 for h, w in shapes)
