"""tools/deploy/infer_onnx.py on an exported detector: the tiny Mask R-CNN
(random weights) gives, in original-image pixels, the detections of mmdet's
own inference of the same image (labels, boxes, scores, pasted masks), and
runs without torch (the venv of requirements/onnx_runtime.txt)."""
import cv2
import numpy as np
import pytest
import torch

from mmmamba.deploy.det_check import (BOX_IOU, MASK_IOU, SCORE_TOL,
                                      match_detections)
from tools_helpers import (INFER, QUICK_DET, export_seeded_model, load_tool,
                           run_in_venv)

SHAPE = (96, 128)  # the graph's input (H, W): multiples of 32
# 60×96 resizes (×4/3, keeping the ratio) to 80×128, which both the tool
# and mmdet's pad_size_divisor of 32 pad to 96×128 (zeros after
# normalisation): mmdet sees exactly the graph's input
IMAGE_HW = (60, 96)


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    """A noise image (no flat areas: equal scores there would be ordered
    by float noise, not by the model)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp('image') / 'noise.png'
    cv2.imwrite(str(path), rng.integers(0, 256, (*IMAGE_HW, 3), np.uint8))
    return path


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    """The quick-start Mask R-CNN, exported at SHAPE: ``(onnx path, model,
    cfg)``."""
    return export_seeded_model(QUICK_DET, SHAPE,
                               tmp_path_factory.mktemp('det_export'))


def mmdet_prediction(model, cfg, image):
    """mmdet's inference of ``image`` (rescaled to the original image), the
    test pipeline resizing into SHAPE; equal scores ordered by index, as
    the ONNX operators order them."""
    from mmcv.transforms import Compose
    from mmdet.apis import inference_detector
    from mmengine.registry import init_default_scope

    from mmmamba.deploy.det_reference import index_order_ties
    init_default_scope('mmdet')
    model.cfg = cfg
    pipeline = Compose([dict(type='LoadImageFromFile'),
                        dict(type='Resize', scale=SHAPE[::-1],
                             keep_ratio=True),
                        dict(type='PackDetInputs')])
    with torch.no_grad(), index_order_ties():
        result = inference_detector(model, str(image),
                                    test_pipeline=pipeline)
    assert result.metainfo['pad_shape'] == SHAPE  # the graph's input
    pred = result.pred_instances
    return dict(boxes=pred.bboxes.numpy(), scores=pred.scores.numpy(),
                labels=pred.labels.numpy(), masks=pred.masks.numpy())


def test_detections_equal_mmdet_inference(detector, image, tmp_path,
                                          monkeypatch):
    path, model, cfg = detector
    infer = load_tool('deploy/infer_onnx')
    monkeypatch.setattr(infer, 'MAX_DRAWN', 1000)  # every detection
    boxes, labels, scores, masks = infer.main(
        [str(path), str(image), '--out', str(tmp_path / 'det.png'),
         '--score-thr', '0'])
    expected = mmdet_prediction(model, cfg, image)
    assert len(expected['scores']) > 10  # random weights: many boxes
    assert masks.shape == (len(labels), *IMAGE_HW)
    match = match_detections(
        dict(boxes=boxes, scores=scores, labels=labels, masks=masks),
        expected)
    assert match['count'] == match['expected_count']
    assert match['unmatched'] == 0, (match, boxes[:3], scores[:3],
                                     expected['boxes'][:3],
                                     expected['scores'][:3])
    assert match['worst_box_iou'] >= BOX_IOU
    assert match['worst_score_diff'] <= SCORE_TOL
    assert match['worst_mask_iou'] >= MASK_IOU, match


def test_detector_runs_without_torch_and_draws(runtime_venv,
                                               detector, image, tmp_path):
    out = tmp_path / 'det.png'
    proc = run_in_venv(runtime_venv, INFER, str(detector[0]), str(image),
                       '--out', str(out), '--score-thr', '0')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'detections with score >= 0' in proc.stdout
    assert 'ms at 96x128' in proc.stdout
    picture = cv2.imread(str(out))
    # input | prediction, each enlarged to >= 512 px on its long side
    assert picture.shape[1] >= 2 * 512 and picture.shape[0] >= 320


def test_undo_resize_and_paste_equal_mmdets_mask_head():
    """Synthetic outputs of a graph fed an image stretched to fill it
    (keep_ratio False: different x and y factors), one row past the
    detections, boxes over the border and tiny: infer_onnx's boxes and
    masks on the original image equal mmdet's FCNMaskHead.predict_by_feat
    (boxes divided by the scale factor, masks pasted and thresholded)."""
    from mmdet.models.roi_heads.mask_heads import FCNMaskHead
    from mmengine.config import ConfigDict
    from mmengine.structures import InstanceData
    infer = load_tool('deploy/infer_onnx')
    original, size, classes = (61, 93), SHAPE, 3
    rng = np.random.default_rng(2)
    boxes = np.float32([[10.5, 8.25, 70.0, 60.75], [90.0, 50.0, 131.0, 99.0],
                        [3.0, 4.0, 7.5, 6.0], [0, 0, 0, 0]])
    scores = np.float32([0.9, 0.7, 0.4, 0.0])
    labels = np.int64([2, 0, 1, -1])
    # many pixels near the threshold: a paste off by a fraction of a pixel
    # (0.3 px fails) flips some of them
    probs = 0.3 + 0.4 * rng.random((len(labels), 28, 28), np.float32)
    probs[2] = 0.8  # the tiny box: all in
    outputs = [np.concatenate([boxes, scores[:, None]], 1)[None],
               labels[None], probs[None]]
    meta = dict(mask_thr=0.5)
    got = infer.detections(outputs, ['dets', 'labels', 'masks'], size,
                           original, meta, score_thr=0.0)
    valid = labels >= 0
    head = FCNMaskHead(num_classes=classes)
    per_class = np.zeros((valid.sum(), classes, 28, 28), np.float32)
    per_class[np.arange(valid.sum()), labels[valid]] = probs[valid]
    results = InstanceData(bboxes=torch.from_numpy(boxes[valid]),
                           labels=torch.from_numpy(labels[valid]),
                           scores=torch.from_numpy(scores[valid]))
    scale = (size[1] / original[1], size[0] / original[0])  # (w, h)
    img_meta = dict(scale_factor=scale, ori_shape=original,
                    img_shape=size)
    want = head.predict_by_feat(
        (torch.from_numpy(per_class), ), [results], [img_meta],
        ConfigDict(mask_thr_binary=0.5), rescale=True,
        activate_map=True)[0]
    assert np.allclose(got[0], want.bboxes.numpy(), rtol=1e-6, atol=1e-5)
    assert (got[1] == want.labels.numpy()).all()
    assert np.allclose(got[2], want.scores.numpy())
    assert got[3].shape == (3, *original)
    assert got[3].any(axis=(1, 2)).all()
    assert (got[3] == want.masks.numpy()).all()
