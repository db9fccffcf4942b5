"""Batched NMS for the detector export: ONNX ``NonMaxSuppression`` plus a
``TopK``, with mmdet's ``batched_nms`` semantics (groups kept apart by
coordinate offsets, IoU > threshold suppresses, survivors by score)."""
import torch


class NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (``center_point_box=0``): ``boxes``
    ``(N, P, 4)``, ``scores`` ``(N, 1, P)``; returns the ``(S, 3)`` int64
    ``(batch, class, box)`` indices of the kept boxes. The forward runs
    mmcv's nms per image (the reference the export is checked against)."""

    @staticmethod
    def forward(ctx, boxes, scores, max_output, iou_threshold,
                score_threshold):
        from mmcv.ops import nms
        selected = []
        for image, (image_boxes, image_scores) in enumerate(
                zip(boxes, scores[:, 0])):
            candidates = (image_scores > score_threshold).nonzero()[:, 0]
            _, keep = nms(image_boxes[candidates], image_scores[candidates],
                          iou_threshold)
            keep = candidates[keep[:max_output]]  # (S_i, )
            index = torch.zeros(len(keep), 3, dtype=torch.long)
            index[:, 0], index[:, 2] = image, keep
            selected.append(index)
        return torch.cat(selected)

    @staticmethod
    def symbolic(g, boxes, scores, max_output, iou_threshold,
                 score_threshold):
        def const(value, dtype):
            return g.op('Constant', value_t=torch.tensor([value], dtype=dtype))
        return g.op('NonMaxSuppression', boxes, scores,
                    const(max_output, torch.long),
                    const(iou_threshold, torch.float),
                    const(score_threshold, torch.float))


def batched_nms(boxes, scores, groups, valid, iou_threshold, score_threshold,
                max_num):
    """Keep the best ``max_num`` boxes of each image after NMS within each
    group (level or class), as mmdet's ``batched_nms``.

    ``boxes`` ``(N, P, 4)``, ``scores`` ``(N, P)``, ``groups`` ``(P, )`` or
    ``(N, P)`` int64, ``valid`` ``(N, P)`` bool (the candidates; only boxes
    with ``scores > score_threshold`` are considered as well). Returns the
    kept scores ``(N, K)``, their indices into ``P`` ``(N, K)`` and a
    ``(N, K)`` bool of the rows that hold a kept box, best first, with
    ``K = min(max_num, P)``.
    """
    valid = valid & (scores > score_threshold)
    boxes = torch.where(valid[..., None], boxes, torch.zeros_like(boxes))
    # one offset per group, larger than any coordinate of the image (the
    # coordinates are >= 0: the boxes are clipped to the image)
    span = boxes.flatten(1).amax(1)[:, None, None] + 1  # (N, 1, 1)
    offset_boxes = boxes + groups[..., None].to(boxes) * span  # (N, P, 4)
    below = torch.full_like(scores, score_threshold - 1.0)
    masked = torch.where(valid, scores, below)  # (N, P)
    selected = NonMaxSuppression.apply(offset_boxes, masked[:, None],
                                       max_num, iou_threshold,
                                       score_threshold)  # (S, 3)
    kept = torch.zeros_like(scores)
    kept[selected[:, 0], selected[:, 2]] = 1.0
    ranked = torch.where(kept > 0, masked, torch.full_like(masked, -1e30))
    top_scores, index = ranked.topk(min(max_num, scores.shape[1]), dim=1)
    return top_scores, index, kept.gather(1, index) > 0
