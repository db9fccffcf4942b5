"""Run an exported A2Mamba segmentor or detector on one image with
onnxruntime, numpy and OpenCV only (no torch, no OpenMMLab), and draw it.

    python tools/deploy/infer_onnx.py MODEL.onnx IMAGE --out PNG
        [--threads N] [--score-thr X]

MODEL.onnx: a file written by ``tools/deploy/export_onnx.py``, whose
metadata says the task, the graph's input size and the data preprocessor's
normalisation. The image is read as the test pipeline reads it (BGR, then
RGB where the model was trained on RGB), resized to fit the graph's fixed
input (the aspect ratio kept where the test pipeline keeps it; bilinear, as
mmcv resizes), normalised and padded bottom / right as the data
preprocessor pads. Then:

- a segmentor's logits are cropped to the image, resized to its original
  size (bilinear) and their arg-max drawn over it;
- a detector's boxes are scaled back to the original image and its masks
  pasted into them (as mmdet pastes them) and thresholded.

The PNG shows the input and the prediction side by side; one line of
stdout says what was found and the latency of the run. It needs only what
requirements/onnx_runtime.txt lists.
"""
import argparse
import importlib.util
import os.path as osp
import sys
import time

import cv2
import numpy as np

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, TOOLS)
import _picture as pic  # noqa: E402
from _errors import DEBUG_HELP, ToolError, run_tool  # noqa: E402

# the most detections drawn (the best ones)
MAX_DRAWN = 50


def load_metadata_module():
    """mmmamba/deploy/metadata.py, loaded from its file: importing the
    mmmamba package would import torch."""
    path = osp.join(osp.dirname(TOOLS), 'mmmamba', 'deploy', 'metadata.py')
    spec = importlib.util.spec_from_file_location('mmmamba_onnx_metadata',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog=DEBUG_HELP)
    parser.add_argument('model', help='.onnx file from export_onnx.py')
    parser.add_argument('image', help='the image to run it on')
    parser.add_argument('--out', required=True, help='the picture (.png)')
    parser.add_argument('--threads', type=int, default=0,
                        help='onnxruntime intra-op threads (default 0: '
                        "onnxruntime's choice, one per core)")
    parser.add_argument('--score-thr', type=float, default=None,
                        help='detections: the lowest score drawn (default: '
                        'the one stored at export, 0.3)')
    return parser.parse_args(argv)


def open_session(path, threads):
    """``(session, metadata)`` of the ONNX file at ``path``."""
    import onnxruntime as ort
    if not osp.isfile(path):
        raise ToolError(f'{path} does not exist')
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(path, options,
                                       providers=['CPUExecutionProvider'])
    except Exception as error:  # onnxruntime raises its own types
        raise ToolError(f'{path} is not an ONNX model onnxruntime can load: '
                        f'{error}') from None
    meta = load_metadata_module().read_metadata(
        session.get_modelmeta().custom_metadata_map)
    if meta.get('task') not in ('segmentation', 'detection'):
        what = 'the backbone alone' if meta.get('task') == 'backbone' else \
            'no mmmamba metadata'
        raise ToolError(f'{path} holds {what}: export a segmentor or '
                        f'detector with tools/deploy/export_onnx.py')
    return session, meta


def read_image(path):
    """The image at ``path``, H×W×3 uint8 BGR (as mmcv reads it)."""
    if not osp.isfile(path):
        raise ToolError(f'{path} does not exist')
    # decoded from the bytes: imread would also print OpenCV's own warning
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ToolError(f'{path} is not an image OpenCV can read')
    return image


def fit_size(height, width, meta):
    """(h, w) of the image resized into the graph's input: keeping the
    aspect ratio (rounded as mmcv rounds) or filling it."""
    in_h, in_w = meta['input_hw']
    if not meta['keep_ratio']:
        return in_h, in_w
    scale = min(in_h / height, in_w / width)
    return (min(int(height * scale + 0.5), in_h),
            min(int(width * scale + 0.5), in_w))


def preprocess(image, meta):
    """``(batch, (h, w))``: the 1×3×H×W float32 network input of a BGR
    image, and the size of the resized image inside it."""
    rgb = image[..., ::-1] if meta['bgr_to_rgb'] else image
    h, w = fit_size(*image.shape[:2], meta)
    resized = cv2.resize(np.ascontiguousarray(rgb), (w, h),
                         interpolation=cv2.INTER_LINEAR).astype(np.float32)
    normalised = (resized - np.float32(meta['mean'])) / np.float32(
        meta['std'])  # h, w, 3
    in_h, in_w = meta['input_hw']
    batch = np.full((1, 3, in_h, in_w), meta['pad_value'], np.float32)
    batch[0, :, :h, :w] = normalised.transpose(2, 0, 1)
    return batch, (h, w)


def segment(logits, size, original):
    """The H0×W0 label map of the 1×C×H×W ``logits`` of an image resized to
    ``size`` (h, w) from ``original`` (H0, W0)."""
    h, w = size
    valid = logits[0, :, :h, :w].transpose(1, 2, 0)  # h, w, C
    channels = valid.shape[2]
    # cv2.resize takes at most 512 channels at a time
    resized = np.concatenate([
        cv2.resize(np.ascontiguousarray(valid[..., c:c + 512]),
                   (original[1], original[0]),
                   interpolation=cv2.INTER_LINEAR).reshape(
                       original[0], original[1], -1)
        for c in range(0, channels, 512)], axis=2)  # H0, W0, C
    return resized.argmax(axis=2)


def _resampling(size, start, stop, length):
    """``length × size`` bilinear weights sampling a ``size``-long mask axis
    stretched over [start, stop) at the pixel centres of a ``length``-long
    image axis, zero outside the mask (grid_sample, align_corners=False,
    zero padding: mmdet's paste)."""
    src = (np.arange(length) + 0.5 - start) / max(stop - start, 1e-6) \
        * size - 0.5  # mask coordinate of each image pixel centre
    low = np.floor(src)
    weights = np.zeros((length, size), np.float32)
    for tap, weight in ((low, 1 - (src - low)), (low + 1, src - low)):
        inside = (tap >= 0) & (tap < size)
        weights[np.nonzero(inside)[0], tap[inside].astype(int)] = \
            weight[inside]
    return weights


def paste_mask(mask, box, shape, threshold):
    """The H×W boolean mask of an M×M probability ``mask`` stretched over
    ``box`` (x1, y1, x2, y2) in an image of ``shape``: the separable
    bilinear resampling mmdet's paste does, thresholded."""
    size = mask.shape[0]
    rows = _resampling(size, box[1], box[3], shape[0])  # H, M
    cols = _resampling(size, box[0], box[2], shape[1])  # W, M
    return rows @ mask @ cols.T >= threshold  # H, W


def detections(outputs, names, size, original, meta, score_thr):
    """``(boxes, labels, scores, masks or None)`` of the first image, in
    original-image pixels, with score >= ``score_thr``, best first (at
    most :data:`MAX_DRAWN`)."""
    found = dict(zip(names, outputs))
    dets, labels = found['dets'][0], found['labels'][0]  # K, 5 / K
    keep = (labels >= 0) & (dets[:, 4] >= score_thr)
    keep &= np.cumsum(keep) <= MAX_DRAWN
    h, w = size
    scale = np.float32([w / original[1], h / original[0]] * 2)
    boxes = dets[keep, :4] / scale  # not clipped, as mmdet returns them
    masks = None
    if 'masks' in found:
        masks = np.stack([
            paste_mask(m, b, original, meta['mask_thr'])
            for m, b in zip(found['masks'][0][keep], boxes)]) \
            if keep.any() else np.zeros((0, *original), bool)
    return boxes, labels[keep], dets[keep, 4], masks


def run(session, batch, size):
    """``(outputs, names, seconds)`` of one run on ``batch``."""
    feeds = {}
    for node in session.get_inputs():
        if node.name == 'image':
            feeds['image'] = batch
        elif node.name == 'image_shape':
            feeds['image_shape'] = np.array([size], np.int64)
        else:
            raise ToolError(f'the model takes an input {node.name!r} this '
                            f'tool does not know: was it exported by '
                            f'tools/deploy/export_onnx.py?')
    names = [node.name for node in session.get_outputs()]
    start = time.perf_counter()
    outputs = session.run(names, feeds)
    return outputs, names, time.perf_counter() - start


def draw(image, meta, prediction, factor, score_thr):
    """The prediction panel, and its one-line summary."""
    big = pic.enlarge(image[..., ::-1], factor)  # RGB
    classes, palette = meta['classes'], meta['palette']
    if meta['task'] == 'segmentation':
        present = sorted(np.unique(prediction),
                         key=lambda c: -(prediction == c).sum())
        entries = [(c, classes[c]) for c in present]
        panel = pic.titled(
            pic.draw_label_map(big, prediction.astype(np.uint8), palette,
                               factor),
            'prediction (onnxruntime)',
            pic.legend(big.shape[1], entries, palette))
        share = ', '.join(f'{classes[c]} {(prediction == c).mean():.0%}'
                          for c in present[:5])
        return panel, f'{len(present)} classes ({share})'
    boxes, labels, scores, masks = prediction
    drawn = pic.draw_instances(big, boxes, labels.tolist(), classes, palette,
                               factor, scores=scores.tolist(), masks=masks)
    title = (f'prediction, onnxruntime ({len(labels)} with score >= '
             f'{score_thr:g})')
    found = ', '.join(f'{classes[c]} {s:.2f}'
                      for c, s in zip(labels[:5], scores[:5]))
    return pic.titled(drawn, title), \
        f'{len(labels)} detections with score >= {score_thr:g} ({found})'


def main(argv=None):
    args = parse_args(argv)
    if args.threads < 0:
        raise ToolError(f'--threads must be >= 0, got {args.threads}')
    session, meta = open_session(args.model, args.threads)
    image = read_image(args.image)
    batch, size = preprocess(image, meta)
    outputs, names, seconds = run(session, batch, size)
    if meta['task'] == 'segmentation':
        if meta.get('align_corners'):
            raise ToolError(f'{args.model}: the decode head resizes with '
                            f'align_corners=True, which this tool does not '
                            f'reproduce (OpenCV resizes as align_corners='
                            f'False); run the model with tools/demo.py')
        prediction = segment(outputs[names.index('seg_logits')], size,
                             image.shape[:2])
        score_thr = None
    else:
        score_thr = meta['score_thr'] if args.score_thr is None \
            else args.score_thr
        prediction = detections(outputs, names, size, image.shape[:2], meta,
                                score_thr)
    factor = pic.scale_factor(image.shape)
    height, width = image.shape[:2]
    shown = f', shown x{factor}' if factor > 1 else ''
    panel, summary = draw(image, meta, prediction, factor, score_thr)
    picture = pic.side_by_side([
        pic.titled(pic.enlarge(image[..., ::-1], factor),
                   f'input ({width}x{height} px{shown})'), panel])
    if not cv2.imwrite(args.out, picture[..., ::-1]):
        raise ToolError(f'could not write {args.out} (give a .png or .jpg '
                        f'name)')
    print(f'{osp.basename(args.model)}: {summary}; onnxruntime '
          f'{seconds * 1e3:.0f} ms at {meta["input_hw"][0]}x'
          f'{meta["input_hw"][1]}; saved {args.out}')
    return prediction


if __name__ == '__main__':
    sys.exit(run_tool(main))
