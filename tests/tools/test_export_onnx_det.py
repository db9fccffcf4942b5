"""Whole-detector ONNX export (tools/deploy/export_onnx.py on Mask R-CNN and
Cascade Mask R-CNN configs, tools/deploy/compare_onnx_det.py): onnxruntime
gives mmdet's detections, one file serves batches 1 to 8, at opsets 17 and
20, and the COCO mAP of a test split matches."""
import json

import numpy as np
import onnx
import pytest
import torch

from mmmamba.deploy.det_check import DetectionMismatchError
from mmmamba.deploy.det_verify import compare_batch, random_batch
from mmmamba.deploy.detector import DetectorOutputs
from mmmamba.deploy.onnx_export import ort_session
from tools_helpers import (CONFIGS, QUICK_DET, data_options,
                           downstream_config, load_tool)

SHAPE = (128, 128)  # the quick-start test pipeline's padded size
STANDARD_OPS = {'NonMaxSuppression', 'RoiAlign', 'TopK'}


@pytest.fixture(scope='module')
def tool():
    return load_tool('deploy/export_onnx')


@pytest.fixture(scope='module')
def quick_det(tmp_path_factory):
    """The quick-start Mask R-CNN, randomly initialised, and generated
    COCO-layout data: ``(config options, checkpoint, model, data root)``.

    Not trained: a few iterations of training shrink every logit towards
    the biases, all scores then lie within float noise of each other (RPN
    logits spread by 4e-3, box scores 0.2527 to 0.2592 after 8 iterations)
    and their order, hence NMS, is noise. The quick-start's real weights
    (12 epochs) are checked by hand (docs/design.md § 14)."""
    make = load_tool('make_tiny_dataset')
    root = tmp_path_factory.mktemp('quick_data')
    make.make_tiny_datasets(str(root), num_train=1, num_val=2, size=96,
                            size_jitter=0.2, seed=0, which=('coco', ))
    torch.manual_seed(0)
    model, _ = load_tool('_common').build_from_config(QUICK_DET)
    checkpoint = str(tmp_path_factory.mktemp('quick_det') / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return data_options(root, 'det'), checkpoint, model.eval(), root


def pseudo_ground_truth(model, options, root, out, per_image=8):
    """A COCO annotation file of the val images whose objects are mmdet's
    ``per_image`` best detections (an untrained model finds none of the
    real objects: its mAP on them is 0 and would check nothing)."""
    from mmengine.runner import Runner
    from pycocotools import mask as mask_utils
    common = load_tool('_common')
    cfg = common.load_config(QUICK_DET, dict(o.split('=', 1)
                                             for o in options))
    loader = Runner.build_dataloader(cfg.test_dataloader)
    ann = json.loads((root / 'coco' / 'annotations' /
                      'instances_val2017.json').read_text())
    ids = loader.dataset.cat_ids
    objects = []
    for data in loader:
        with torch.no_grad():
            result, = model.test_step(data)
        found = result.pred_instances[:per_image]
        for box, label, mask in zip(found.bboxes.tolist(),
                                    found.labels.tolist(), found.masks):
            rle = mask_utils.encode(np.asfortranarray(mask.numpy().astype(
                np.uint8)))
            rle['counts'] = rle['counts'].decode()
            objects.append(dict(
                id=len(objects) + 1, image_id=result.img_id, iscrowd=0,
                category_id=ids[label], segmentation=rle,
                area=float(mask.sum()),
                bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]]))
    ann['annotations'] = objects
    out.write_text(json.dumps(ann))
    return out


@pytest.fixture(scope='module')
def exported(tool, quick_det, tmp_path_factory):
    """The quick-start detector exported (and checked) by the tool at the
    default opset, 17."""
    options, checkpoint, _, _ = quick_det
    out = tmp_path_factory.mktemp('exported') / 'det.onnx'
    export(tool, out, QUICK_DET, checkpoint, '--cfg-options', *options)
    assert onnx.load(str(out)).opset_import[0].version == 17
    return out


def export(tool, out, config, checkpoint, *extra):
    result = tool.main([str(config), str(checkpoint), '--shape',
                        *map(str, SHAPE), '--out', str(out), '--repeats',
                        '1', *extra])
    match = result['match']
    assert match['unmatched'] == 0 and match['count'] > 0
    assert match['count'] == match['expected_count']
    assert result['file_bytes'] == out.stat().st_size
    return result


def check_graph_and_batch(path, model, batch):
    """Standard operators only, the detector's ones among them; ``batch``
    random images (odd ones letterboxed) give mmdet's detections."""
    graph = onnx.load(str(path)).graph
    assert STANDARD_OPS <= {n.op_type for n in graph.node}
    assert {n.domain for n in graph.node} <= {'', 'ai.onnx'}
    session = ort_session(str(path))
    image, sizes = random_batch(SHAPE, batch, seed=1)
    dets, labels, masks = session.run(None, {'image': image.numpy(),
                                             'image_shape': sizes.numpy()})
    assert dets.shape == (batch, 100, 5) and masks.shape == (batch, 100, 28,
                                                             28)
    assert labels.dtype == 'int64' and 0 <= masks.min() <= masks.max() <= 1
    # letterboxed images (odd ones): boxes inside their own 96 x 96
    assert (dets[1, :, :4] <= 96).all() and (dets[0, :, 2:4] > 96).any()
    match = compare_batch(session, model, image, sizes)
    assert match['unmatched'] == 0 and match['count'] == batch * 100


def test_one_file_serves_batches_1_to_8(exported, quick_det):
    check_graph_and_batch(exported, quick_det[2], 8)  # 1: the tool's check


def test_opset_20(tool, quick_det, tmp_path):
    options, checkpoint, model, _ = quick_det
    out = tmp_path / 'det.onnx'
    export(tool, out, QUICK_DET, checkpoint, '--opset', '20',
           '--cfg-options', *options)
    assert onnx.load(str(out)).opset_import[0].version == 20
    check_graph_and_batch(out, model, 2)


def test_mismatched_weights_fail_the_checks(exported, quick_det, tmp_path):
    """The checks can fail: mmdet runs other weights than the file holds."""
    options, _, model, root = quick_det
    out = exported
    other, _ = load_tool('_common').build_from_config(QUICK_DET)
    other.load_state_dict(model.state_dict())
    with torch.no_grad():  # one class favoured a little
        other.roi_head.bbox_head.fc_cls.bias[0] += 0.5
    image, sizes = random_batch(SHAPE, 2)
    match = compare_batch(ort_session(str(out)), other.eval(), image, sizes)
    assert match['unmatched'] > 0
    with torch.no_grad():
        other.roi_head.bbox_head.fc_cls.bias[0] -= 0.5
        other.roi_head.bbox_head.fc_reg.bias += 1.0  # boxes moved
    other_ckpt = tmp_path / 'other.pth'
    torch.save({'state_dict': other.state_dict(), 'meta': {}}, other_ckpt)
    ann = pseudo_ground_truth(model, options, root, tmp_path / 'gt.json')
    compare = load_tool('deploy/compare_onnx_det')
    with pytest.raises(compare.ToolError, match='differ by more than'):
        compare.main([QUICK_DET, str(other_ckpt), str(out), '--cfg-options',
                      *options, f'test_evaluator.ann_file={ann}'])


def test_test_split_map_of_onnxruntime_equals_pytorch(exported, quick_det,
                                                      tmp_path):
    options, checkpoint, model, root = quick_det
    out = exported
    ann = pseudo_ground_truth(model, options, root, tmp_path / 'gt.json')
    compare = load_tool('deploy/compare_onnx_det')
    result = compare.main([QUICK_DET, checkpoint, str(out), '--cfg-options',
                           *options, f'test_evaluator.ann_file={ann}'])
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert result['torch'][key] > 0.3  # the check checks something
        assert abs(result['onnx'][key] - result['torch'][key]) <= 0.002
    assert result['match']['expected_count'] == 2 * 100


@pytest.mark.parametrize('name', [
    'cascade_mask_rcnn_a2mamba_t_fpn_3x_coco.py',
    'mask_rcnn_a2mamba_t_fpn_1x_coco.py'])
def test_real_detector_configs_export_whole(tool, tiny_data, tmp_path, name):
    """The model zoo's detectors (test-width backbone, three classes,
    random weights) export whole and match mmdet."""
    config = downstream_config(tmp_path, f'{CONFIGS}/{name}', tiny_data)
    torch.manual_seed(0)
    model, _ = tool.build_from_config(config)
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    result = export(tool, tmp_path / 'det.onnx', config, checkpoint)
    assert result['match']['count'] == 20  # the shrunk max_per_img
    if name.startswith('cascade'):
        assert len(model.roi_head.bbox_head) == 3


def test_the_3x_mask_rcnn_is_the_1x_one(tool, tiny_data, tmp_path):
    """1x and 3x differ in data and schedule only: the same export."""
    built = []
    for name in ('mask_rcnn_a2mamba_t_fpn_1x_coco.py',
                 'mask_rcnn_a2mamba_t_fpn_3x_coco.py'):
        config = downstream_config(tmp_path, f'{CONFIGS}/{name}', tiny_data,
                                   name=name)
        model, cfg = tool.build_from_config(config)
        module = DetectorOutputs(model, SHAPE)
        built.append(({k: v.shape for k, v in module.state_dict().items()},
                      cfg.model.test_cfg, str(module)))
    assert built[0] == built[1]


def test_detector_refuses_opsets_without_half_pixel_roi_align(
        tool, quick_det, tmp_path):
    options, checkpoint, _, _ = quick_det
    with pytest.raises(ValueError, match='opset >= 16'):
        tool.main([QUICK_DET, checkpoint, '--shape', '128', '128', '--out',
                   str(tmp_path / 'det.onnx'), '--opset', '15',
                   '--cfg-options', *options])


def test_detection_mismatch_error_names_the_bars():
    from mmmamba.deploy.det_check import check_match
    with pytest.raises(DetectionMismatchError, match='IoU >= 0.99'):
        check_match(dict(count=2, expected_count=2, missing=1, extra=1,
                         unmatched=2, worst_box_iou=1.0,
                         worst_score_diff=0.0, worst_mask_iou=1.0))


def test_compare_tool_refuses_what_it_cannot_compare(quick_det, tmp_path):
    options, checkpoint, _, _ = quick_det
    compare = load_tool('deploy/compare_onnx_det')
    with pytest.raises(compare.ToolError, match='does not exist'):
        compare.main([QUICK_DET, checkpoint, str(tmp_path / 'no.onnx')])
    conv = tmp_path / 'conv.onnx'  # an export that is not a detector
    torch.onnx.export(torch.nn.Conv2d(3, 2, 1), (torch.zeros(1, 3, 8, 8), ),
                      str(conv), dynamo=False, input_names=['image'],
                      output_names=['seg_logits'])
    with pytest.raises(compare.ToolError, match='not a whole-detector'):
        compare.main([QUICK_DET, checkpoint, str(conv), '--cfg-options',
                      *options])
    with pytest.raises(compare.ToolError, match='larger than the export'):
        compare.pad_to(torch.zeros(1, 3, 130, 64), SHAPE, 0.0)
