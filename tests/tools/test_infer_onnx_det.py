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
from test_infer_onnx import INFER, run_in_venv, runtime_venv  # noqa: F401
from tools_helpers import QUICK_DET, load_tool

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
    export = load_tool('deploy/export_onnx')
    torch.manual_seed(0)
    model, cfg = export.build_from_config(QUICK_DET)
    root = tmp_path_factory.mktemp('det_export')
    checkpoint = root / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    out = root / 'det.onnx'
    export.main([QUICK_DET, str(checkpoint), '--shape', *map(str, SHAPE),
                 '--out', str(out), '--repeats', '1'])
    return out, model.eval(), cfg


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


def test_detector_runs_without_torch_and_draws(runtime_venv,  # noqa: F811
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
