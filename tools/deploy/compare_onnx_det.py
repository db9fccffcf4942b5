"""Run a dataset's test split through a whole-detector ONNX export and
through mmdet, and compare the detections and the COCO metrics.

    python tools/deploy/compare_onnx_det.py CONFIG CHECKPOINT MODEL.onnx
        [--cfg-options k=v ...]

MODEL.onnx: written by tools/deploy/export_onnx.py from CONFIG (the whole
detector). Each test image goes through the config's test pipeline and data
preprocessor (resize, normalise, pad), is padded to the export's fixed input
size and run by onnxruntime; its detections are brought back to the
original image as mmdet does (boxes divided by the resize factors, masks
pasted on the original image and thresholded); ``image_shape`` is each
resized image's size (mmdet's ``img_shape``). PyTorch's run is mmdet's
``predict`` on the same padded batches (what ``test_step`` does, at the
export's input size: A2Mamba's features depend on the padded size), with
equal scores taken in index order as ONNX's TopK and NonMaxSuppression take
them; mmdet's CPU sort leaves their order to the sort algorithm, which on
background boxes of equal score moves the mAP of a briefly trained model
(the tool also prints mmdet's mAP in that order). It prints both runs' COCO
metrics (the config's test evaluator) and how many detections match (same
label, box IoU >= 0.99, score within 1e-3, mask IoU >= 0.98: near-equal
scores, within float noise, may still rank differently), and fails if the
bbox or segm mAP differ by more than 0.002.
"""
import argparse
import os.path as osp
import sys

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _checks import check_checkpoint_path  # noqa: E402
from _common import (build_from_config, check_checkpoint_fits,  # noqa: E402
                     read_model_checkpoint)
from _errors import DEBUG_HELP, ToolError, run_tool  # noqa: E402

MAP_TOL = 0.002
MAP_KEYS = ('coco/bbox_mAP', 'coco/segm_mAP')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog=DEBUG_HELP)
    parser.add_argument('config', help='the mmdet config of the export')
    parser.add_argument('checkpoint', help='mmengine checkpoint (.pth)')
    parser.add_argument('onnx', help='the whole-detector .onnx file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='key=value overrides of the config')
    return parser.parse_args(argv)


def input_size(session):
    """The fixed ``(H, W)`` of the export's ``image`` input."""
    inputs = session.get_inputs()
    names = [o.name for o in session.get_outputs()]
    if inputs[0].name != 'image' or names[:2] != ['dets', 'labels']:
        raise ToolError(f'the file is not a whole-detector export (inputs '
                        f'{[i.name for i in inputs]}, outputs {names}); '
                        f'export the config with tools/deploy/export_onnx.py')
    return tuple(int(s) for s in inputs[0].shape[2:])


def pad_to(images, shape, value):
    """The ``N × 3 × h × w`` batch padded (bottom, right) to ``shape``."""
    height, width = images.shape[-2:]
    if height > shape[0] or width > shape[1]:
        raise ToolError(f'a preprocessed test image is {height}x{width}, '
                        f'larger than the export\'s input {shape[0]}x'
                        f'{shape[1]}: export at the test pipeline\'s padded '
                        f'size (--shape of export_onnx.py)')
    return torch.nn.functional.pad(images, (0, shape[1] - width, 0,
                                            shape[0] - height), value=value)


def as_sample(sample, detections):
    """A DetDataSample with ``sample``'s meta and the export's
    ``detections`` (numpy dict of :func:`export_detections`)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    instances = InstanceData(
        bboxes=torch.from_numpy(detections['boxes']),
        scores=torch.from_numpy(detections['scores']),
        labels=torch.from_numpy(detections['labels']))
    if 'masks' in detections:
        instances.masks = torch.from_numpy(detections['masks'])
    return DetDataSample(metainfo=sample.metainfo, pred_instances=instances)


def run(model, cfg, session):
    """The runs over the test split: the metrics of mmdet (equal scores in
    index order, as the export), of the export and of mmdet as is (equal
    scores in its sort's order), and the detection match of the first
    two."""
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner

    from mmmamba.deploy.det_check import match_detections, merge_matches
    from mmmamba.deploy.det_reference import (export_detections,
                                              index_order_ties,
                                              instances_as_numpy)
    from mmmamba.deploy.det_verify import mask_threshold
    shape = input_size(session)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    evaluators = [Evaluator(cfg.test_evaluator) for _ in range(3)]
    for evaluator in evaluators:
        evaluator.dataset_meta = loader.dataset.metainfo
    threshold = mask_threshold(model)
    pad_value = float(model.data_preprocessor.pad_value)
    matches = []
    for data in loader:
        batch = model.data_preprocessor(data, False)
        images = pad_to(batch['inputs'], shape, pad_value)
        for sample in batch['data_samples']:
            sample.set_metainfo(dict(batch_input_shape=shape, pad_shape=shape))
        samples = batch['data_samples']
        with torch.no_grad():  # predict fills in the samples it is given
            as_is = model.predict(images, [s.clone() for s in samples],
                                  rescale=True)
            with index_order_ties():
                expected = model.predict(images,
                                         [s.clone() for s in samples],
                                         rescale=True)
        sizes = np.array([s.img_shape[:2] for s in batch['data_samples']],
                         np.int64)
        outputs = session.run(None, {'image': images.numpy(),
                                     'image_shape': sizes})
        masks = outputs[2] if len(outputs) > 2 else [None] * len(images)
        actual = []
        for i, sample in enumerate(batch['data_samples']):
            found = export_detections(outputs[0][i], outputs[1][i], masks[i],
                                      sample.ori_shape[:2], threshold,
                                      tuple(sample.scale_factor))
            matches.append(match_detections(
                found, instances_as_numpy(expected[i].pred_instances)))
            actual.append(as_sample(sample, found))
        for evaluator, samples in zip(evaluators, (expected, actual, as_is)):
            evaluator.process(data_samples=samples, data_batch=data)
    size = len(loader.dataset)
    return [e.evaluate(size) for e in evaluators] + [merge_matches(matches)]


def main(argv=None):
    args = parse_args(argv)
    from mmmamba.deploy import ort_session
    check_checkpoint_path(args.checkpoint)
    if not osp.isfile(args.onnx):
        raise ToolError(f'{args.onnx} does not exist')
    model, cfg = build_from_config(args.config, args.cfg_options)
    _, state_dict = read_model_checkpoint(args.checkpoint)
    check_checkpoint_fits(model, state_dict, args.checkpoint)
    model.load_state_dict(state_dict)
    model.eval()
    session = ort_session(args.onnx)
    torch_metrics, onnx_metrics, as_is, match = run(model, cfg, session)
    keys = [k for k in MAP_KEYS if k in torch_metrics]
    if not keys:
        raise ToolError(f'the test evaluator gives none of {MAP_KEYS} '
                        f'(got {sorted(torch_metrics)})')
    for key in keys:
        print(f'{key}: PyTorch {torch_metrics[key]:.4f}, onnxruntime '
              f'{onnx_metrics[key]:.4f} (difference '
              f'{onnx_metrics[key] - torch_metrics[key]:+.4f}); PyTorch '
              f'with its own order of equal scores {as_is[key]:.4f}')
    print(f'detections: {match["expected_count"] - match["missing"]} of '
          f'mmdet\'s {match["expected_count"]} have a partner among the '
          f'{match["count"]} of onnxruntime (same label, box IoU >= 0.99, '
          f'score within 1e-3; {match["extra"]} of onnxruntime\'s left '
          f'over); matched: worst box IoU {match["worst_box_iou"]:.4f}, '
          f'worst mask IoU {match["worst_mask_iou"]:.4f}')
    worst = max(keys, key=lambda k: abs(onnx_metrics[k] - torch_metrics[k]))
    if abs(onnx_metrics[worst] - torch_metrics[worst]) > MAP_TOL:
        raise ToolError(f'{worst} of onnxruntime and PyTorch differ by more '
                        f'than {MAP_TOL}: the export is not faithful')
    return dict(torch=torch_metrics, onnx=onnx_metrics, torch_as_is=as_is,
                match=match)


if __name__ == '__main__':
    sys.exit(run_tool(main))
