"""Export an A2Mamba segmentor or detector to ONNX and check it.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --shape H W
        --out FILE.onnx [--backbone-only] [--opset N] [--batch N]
        [--repeats N] [--cfg-options k=v ...]

CONFIG: an mmseg or mmdet config (or ``mmmamba::a2mamba/<config>.py``);
CHECKPOINT: an mmengine checkpoint (its ``state_dict`` entry is loaded,
strictly). Exported, for a normalised ``N × 3 × H × W`` input ``image``
(mean/std and channel order of the data preprocessor applied beforehand;
the batch ``N`` is dynamic, one file serves any batch):

- segmentors: ``seg_logits``, the ``encode_decode`` logits at H × W;
- two-stage detectors (Mask R-CNN, Cascade Mask R-CNN), whole: ``dets``
  (N × K × 5: x1, y1, x2, y2 in input pixels, score), ``labels`` (N × K
  int64) and ``masks`` (N × K × M × M probabilities of each box's class),
  K = the config's ``max_per_img``, rows past an image's detections with
  score 0 and label -1 (opset >= 16: RoiAlign's half-pixel mode);
- other detectors: the backbone's maps (``backbone_<i>``) and the neck's
  outputs (``neck_<i>``); ``--backbone-only``: the backbone's maps only,
  for any config.

The graph is fixed to H × W (H, W >= 32): the dilation of the dilated
attention and the small-map padding depend on each stage's map size, so
export once per input size. The tool then runs the file with onnxruntime
and the model with PyTorch (our C++ kernels) on one random batch of
``--batch`` images, prints the maximum relative error, both latencies at
the same thread count and their ratio, the export time and the file size
against the exported weights, and fails if the outputs differ by more than
1e-4 (detectors: unless every detection of mmdet's predict, with equal
scores taken in index order as ONNX does, has a partner of the same label,
box IoU >= 0.99, score within 1e-3 and mask IoU >= 0.98).
"""
import argparse
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _checks import check_checkpoint_path, check_output_file  # noqa: E402
from _common import build_from_config  # noqa: E402
from _errors import DEBUG_HELP, ToolError, run_tool  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction

    from mmmamba.deploy import DEFAULT_OPSET
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog=DEBUG_HELP)
    parser.add_argument('config', help='mmseg / mmdet config')
    parser.add_argument('checkpoint', help='mmengine checkpoint (.pth)')
    parser.add_argument('--shape', type=int, nargs=2, required=True,
                        metavar=('H', 'W'),
                        help='the fixed input size of the graph (>= 32)')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--backbone-only', action='store_true',
                        help="export the backbone's feature maps only")
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset, 14-20 (default {DEFAULT_OPSET})')
    parser.add_argument('--batch', type=int, default=1,
                        help='batch size of the check and the timing (the '
                        'file serves any batch; default 1)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs per latency, in two blocks per '
                        'runtime, each after a warm-up (default 3; the '
                        'median is printed)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='key=value overrides of the config')
    return parser.parse_args(argv)


def load_weights(model, checkpoint):
    """Load the ``state_dict`` of an mmengine checkpoint, strictly."""
    from mmmamba.models.utils.checkpoint import (extract_state_dict,
                                                 load_checkpoint_file)
    state_dict = extract_state_dict(load_checkpoint_file(checkpoint),
                                    'state_dict')
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise ToolError(f'{checkpoint} does not hold the weights of this '
                        f'config\'s model: {error}') from None


def check_detector(args, model, shape):
    """onnxruntime's detections against mmdet's predict (the issue's match:
    labels, box IoU, scores, mask IoU) on one random batch."""
    from mmmamba.deploy.det_check import BOX_IOU, MASK_IOU, SCORE_TOL
    from mmmamba.deploy.det_verify import verify_detector
    result = verify_detector(args.out, model, shape, args.repeats,
                             batch=args.batch)
    match = result['match']
    print(f'onnxruntime vs mmdet predict: {match["count"]} detections, '
          f'every one matched (same label; worst box IoU '
          f'{match["worst_box_iou"]:.5f} >= {BOX_IOU}, worst score '
          f'difference {match["worst_score_diff"]:.1e} <= {SCORE_TOL:g}, '
          f'worst mask IoU {match["worst_mask_iou"]:.4f} >= {MASK_IOU})')
    return result


def main(argv=None):
    args = parse_args(argv)
    from mmmamba.deploy import (check_opset, check_shape, export_module,
                                export_onnx, verify_onnx, weight_bytes)
    from mmmamba.deploy.metadata import model_metadata, write_metadata
    shape = check_shape(args.shape)
    check_opset(args.opset)
    if args.batch < 1:
        raise ToolError(f'--batch must be >= 1, got {args.batch}')
    check_output_file(args.out)  # before minutes of tracing
    check_checkpoint_path(args.checkpoint)
    model, cfg = build_from_config(args.config, args.cfg_options)
    load_weights(model, args.checkpoint)
    model.eval()
    module, names = export_module(model, shape, args.backbone_only)
    print(f'exporting {", ".join(names)} at a fixed input size of '
          f'Nx3x{shape[0]}x{shape[1]}, any batch N (the dilated attention\'s '
          f'dilation depends on the map size: export again for another size)')
    seconds = export_onnx(module, names, shape, args.out, args.opset)
    task = {'dets': 'detection', 'seg_logits': 'segmentation'}.get(
        names[0], 'backbone')
    write_metadata(args.out, model_metadata(cfg, task, shape))
    weights = weight_bytes(module)
    size = osp.getsize(args.out)
    print(f'wrote {args.out} (opset {args.opset}) in {seconds:.1f} s: '
          f'{size / 1e6:.1f} MB, {size / weights:.2f}x the fp32 weights '
          f'({weights / 1e6:.1f} MB)')
    if names[0] == 'dets':
        result = check_detector(args, model, shape)
    else:
        result = verify_onnx(args.out, module, names, shape, args.repeats,
                             batch=args.batch)
        print(f'onnxruntime vs PyTorch: max relative error '
              f'{result["max_error"]:.2e} (tolerance 1e-4)')
    result.update(export_seconds=seconds, file_bytes=size,
                  weight_bytes=weights,
                  speedup=result['torch_seconds'] / result['ort_seconds'])
    spread = {name: '-'.join(f'{t * 1e3:.0f}' for t in (min(times),
                                                         max(times)))
              for name, times in (('ort', result['ort_times']),
                                  ('torch', result['torch_times']))}
    print(f'latency at batch {args.batch} (CPU, {torch.get_num_threads()} '
          f'threads each, median of {args.repeats} (range), in blocks): '
          f'onnxruntime {result["ort_seconds"] * 1e3:.1f} ms '
          f'({spread["ort"]}), PyTorch {result["torch_seconds"] * 1e3:.1f} '
          f'ms ({spread["torch"]}): onnxruntime is {result["speedup"]:.2f}x '
          f'as fast as PyTorch')
    return result


if __name__ == '__main__':
    sys.exit(run_tool(main))
