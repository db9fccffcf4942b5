"""The check of a whole-detector export (``tools/deploy/export_onnx.py``):
onnxruntime's detections against mmdet's on one random batch, and both
latencies."""
import statistics

import torch

from ..devtools import time_blocks
from .det_check import check_match, match_detections, merge_matches
from .det_reference import (detection_metas, export_detections,
                            index_order_ties, mmdet_detections)
from .onnx_export import check_operators, ort_session


def mask_threshold(model):
    """The R-CNN ``mask_thr_binary`` of an mmdet detector."""
    return float(model.roi_head.test_cfg.get('mask_thr_binary', 0.5))


def export_outputs_as_mmdet(outputs, shape, threshold):
    """The export's outputs for a batch as one numpy dict per image
    (:func:`export_detections`)."""
    dets, labels = outputs[:2]
    masks = outputs[2] if len(outputs) > 2 else [None] * len(dets)
    return [export_detections(d, lab, m, shape, threshold)
            for d, lab, m in zip(dets, labels, masks)]


def random_batch(shape, batch, seed=0):
    """A random ``batch × 3 × H × W`` input and its ``(batch, 2)`` image
    sizes: every odd image is its top-left 3/4 × 3/4 (its boxes are clipped
    there). The padding stays random: a constant area would give equal
    scores, whose order float noise decides."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, *shape, generator=gen)
    height, width = shape
    sizes = torch.tensor([(height, width) if i % 2 == 0 else
                          (height * 3 // 4, width * 3 // 4)
                          for i in range(batch)])
    return image, sizes


def compare_batch(session, model, image, sizes):
    """onnxruntime's and mmdet's detections of one batch, matched
    (:func:`merge_matches`); mmdet runs with equal scores ordered by index
    (:func:`index_order_ties`), as the ONNX operators order them."""
    outputs = session.run(None, {'image': image.numpy(),
                                 'image_shape': sizes.numpy()})
    with index_order_ties():
        expected = mmdet_detections(model, image, sizes.tolist())
    actual = export_outputs_as_mmdet(outputs, tuple(image.shape[-2:]),
                                     mask_threshold(model))
    return merge_matches([match_detections(a, e)
                          for a, e in zip(actual, expected)])


def verify_detector(path, model, shape, repeats=3, seed=0, batch=1):
    """Run ``path`` with onnxruntime and ``model`` (an mmdet detector) with
    mmdet's ``predict`` on one random batch (:func:`random_batch`); return
    ``dict(match, detections, ort_seconds, torch_seconds, ort_times,
    torch_times)``.

    ``match`` is :func:`compare_batch`'s. Raises DetectionMismatchError
    unless every detection matches (:func:`check_match`)."""
    check_operators(path)
    image, sizes = random_batch(shape, batch, seed)
    session = ort_session(path)
    match = compare_batch(session, model, image, sizes)
    check_match(match, path)
    feeds = {'image': image.numpy(), 'image_shape': sizes.numpy()}
    samples = detection_metas(tuple(shape), sizes.tolist())

    def mmdet_predict():
        with torch.no_grad():
            return model.predict(image, samples, rescale=False)

    ort_times, torch_times = time_blocks(
        [lambda: session.run(None, feeds), mmdet_predict], repeats)
    return dict(match=match, detections=match['count'],
                ort_seconds=statistics.median(ort_times),
                torch_seconds=statistics.median(torch_times),
                ort_times=ort_times, torch_times=torch_times)
