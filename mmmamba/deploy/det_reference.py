"""mmdet's side of the detector-export checks, and the export's outputs in
the form mmdet gives (boxes, scores, labels, pasted masks)."""
import contextlib
import sys

import numpy as np
import torch


def detection_metas(shape, image_shapes):
    """Data samples of the export's view of a padded ``H × W`` batch: image
    ``i`` is its top-left ``image_shapes[i]`` (boxes clipped to it), and
    nothing is rescaled (boxes in input pixels, masks pasted on ``H × W``)."""
    from mmdet.structures import DetDataSample
    return [DetDataSample(metainfo=dict(
        img_shape=tuple(size), ori_shape=tuple(shape), pad_shape=tuple(shape),
        batch_input_shape=tuple(shape), scale_factor=(1.0, 1.0)))
        for size in image_shapes]


def instances_as_numpy(instances):
    """An mmdet ``pred_instances`` as a dict of numpy arrays."""
    out = dict(boxes=instances.bboxes.numpy(),
               scores=instances.scores.numpy(),
               labels=instances.labels.numpy())
    if 'masks' in instances:
        out['masks'] = instances.masks.numpy().astype(bool)
    return out


def mmdet_detections(model, images, image_shapes):
    """mmdet's ``predict`` of a normalised, padded ``N × 3 × H × W`` batch
    as the export sees it (:func:`detection_metas`): one numpy dict per
    image."""
    samples = detection_metas(tuple(images.shape[-2:]), image_shapes)
    with torch.no_grad():
        results = model.predict(images, samples, rescale=False)
    return [instances_as_numpy(r.pred_instances) for r in results]


def paste_masks(probs, boxes, shape, threshold):
    """``(n, M, M)`` probabilities pasted in their ``(n, 4)`` boxes on an
    ``H × W`` image and thresholded (``>= threshold``), as mmdet's
    ``FCNMaskHead`` does: ``(n, H, W)`` bool."""
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    if len(probs) == 0:
        return np.zeros((0, *shape), bool)
    pasted, _ = _do_paste_mask(torch.from_numpy(probs)[:, None],
                               torch.from_numpy(boxes), *shape,
                               skip_empty=False)
    return (pasted >= threshold).numpy()


def export_detections(dets, labels, masks, shape, threshold=0.5,
                      scale_factor=(1.0, 1.0)):
    """One image's export outputs (``dets`` ``(K, 5)``, ``labels``, ``masks``
    ``(K, M, M)``) as mmdet gives them: the rows that hold a detection,
    boxes divided by ``scale_factor`` (w, h) and clipped to ``shape`` (H,
    W), masks pasted on it."""
    keep = labels >= 0
    scale = np.array(scale_factor * 2, np.float32)
    height, width = shape
    boxes = np.minimum(np.maximum(dets[keep, :4] / scale, 0),
                       np.array([width, height] * 2, np.float32))
    out = dict(boxes=boxes, scores=dets[keep, 4], labels=labels[keep])
    if masks is not None:
        out['masks'] = paste_masks(masks[keep], out['boxes'], shape,
                                   threshold)
    return out


def stable_nms(boxes, scores, iou_threshold, offset=0, score_threshold=0,
               max_num=-1):
    """mmcv's ``nms`` (same IoU arithmetic, ``IoU > threshold``
    suppresses) with equal scores taken in index order, as ONNX's
    ``NonMaxSuppression`` does (mmcv's C++ sort leaves their order to the
    sort algorithm)."""
    if (offset, score_threshold, max_num) != (0, 0, -1):
        raise ValueError('stable_nms implements the nms of mmdet\'s '
                         'configs only (offset 0, no score threshold, no '
                         'max_num)')
    order = scores.sort(descending=True, stable=True)[1]
    ranked = boxes[order]  # (n, 4)
    areas = (ranked[:, 2] - ranked[:, 0]) * (ranked[:, 3] - ranked[:, 1])
    suppressed = torch.zeros(len(ranked), dtype=torch.bool)
    kept = []
    for i in range(len(ranked)):
        if suppressed[i]:
            continue
        kept.append(i)
        low = torch.maximum(ranked[i, :2], ranked[:, :2])
        high = torch.minimum(ranked[i, 2:], ranked[:, 2:])
        inter = (high - low).clamp(min=0).prod(1)  # (n, )
        suppressed |= inter / (areas[i] + areas - inter) > iou_threshold
    keep = order[torch.tensor(kept, dtype=torch.long)]
    return torch.cat([boxes[keep], scores[keep, None]], 1), keep


@contextlib.contextmanager
def index_order_ties():
    """Run mmdet with equal scores ordered by index, as the export orders
    them (ONNX TopK and NonMaxSuppression): every sort stable, NMS by
    :func:`stable_nms`. Plain mmdet orders ties as torch's (unstable) CPU
    sort leaves them."""
    import mmcv.ops  # noqa: F401 (loads mmcv.ops.nms)
    mmcv_nms = sys.modules['mmcv.ops.nms']  # mmcv.ops.nms: the function
    sort = torch.Tensor.sort

    def stable_sort(self, dim=-1, descending=False, stable=True):
        return sort(self, dim=dim, descending=descending, stable=True)

    nms = mmcv_nms.nms
    torch.Tensor.sort, mmcv_nms.nms = stable_sort, stable_nms
    try:
        yield
    finally:
        torch.Tensor.sort, mmcv_nms.nms = sort, nms
