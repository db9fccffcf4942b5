"""The detection match of a detector export against mmdet (issue 18): the
same labels, every box matched at IoU >= 0.99, scores within 1e-3, masks
(pasted, thresholded) at IoU >= 0.98."""
import numpy as np

BOX_IOU = 0.99
SCORE_TOL = 1e-3
MASK_IOU = 0.98


class DetectionMismatchError(RuntimeError):
    """The exported detector's detections differ from mmdet's."""


def box_iou(box, boxes):
    """IoU of one ``(4, )`` box with ``(n, 4)`` boxes, ``(n, )``."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-12)


def mask_iou(mask, other):
    """IoU of two boolean masks (1 when both are empty)."""
    union = np.logical_or(mask, other).sum()
    return 1.0 if union == 0 else np.logical_and(mask, other).sum() / union


def match_detections(actual, expected):
    """Match ``actual`` detections (the export's) to ``expected`` ones
    (mmdet's), each a dict of numpy ``boxes`` ``(n, 4)``, ``scores``,
    ``labels`` and optionally ``masks`` ``(n, H, W)`` bool.

    Each expected detection, best first, takes the unmatched actual one of
    its label, within the score tolerance, that overlaps it most. Returns
    ``dict(count, expected_count, missing, extra, unmatched, worst_box_iou,
    worst_score_diff, worst_mask_iou)``: ``missing`` counts the expected
    detections without a partner at IoU >= :data:`BOX_IOU`, ``extra`` the
    actual ones left over, ``unmatched`` both."""
    free = np.ones(len(actual['scores']), bool)
    worst_iou, worst_score, worst_mask = 1.0, 0.0, 1.0
    unmatched = 0
    for i in np.argsort(-expected['scores'], kind='stable'):
        score_diff = np.abs(actual['scores'] - expected['scores'][i])
        partners = free & (actual['labels'] == expected['labels'][i]) & (
            score_diff <= SCORE_TOL)
        ious = np.where(partners, box_iou(expected['boxes'][i],
                                          actual['boxes']), -1.0)
        j = int(np.argmax(ious)) if len(ious) else -1
        if j < 0 or ious[j] < BOX_IOU:
            unmatched += 1
            continue
        free[j] = False
        worst_iou = min(worst_iou, float(ious[j]))
        worst_score = max(worst_score, float(score_diff[j]))
        if 'masks' in expected:
            worst_mask = min(worst_mask, mask_iou(actual['masks'][j],
                                                  expected['masks'][i]))
    return dict(count=len(actual['scores']),
                expected_count=len(expected['scores']), missing=unmatched,
                extra=int(free.sum()), unmatched=unmatched + int(free.sum()),
                worst_box_iou=worst_iou, worst_score_diff=worst_score,
                worst_mask_iou=worst_mask)


def merge_matches(matches):
    """One summary of several :func:`match_detections` results."""
    summed = ('count', 'expected_count', 'missing', 'extra', 'unmatched')
    return dict(
        **{key: sum(m[key] for m in matches) for key in summed},
        worst_box_iou=min(m['worst_box_iou'] for m in matches),
        worst_score_diff=max(m['worst_score_diff'] for m in matches),
        worst_mask_iou=min(m['worst_mask_iou'] for m in matches))


def check_match(match, what='the export'):
    """DetectionMismatchError unless ``match`` (from
    :func:`match_detections` or :func:`merge_matches`) meets the issue's
    bars."""
    if match['unmatched'] or match['worst_mask_iou'] < MASK_IOU:
        raise DetectionMismatchError(
            f'{what}: {match["missing"]} of mmdet\'s '
            f'{match["expected_count"]} detections without a partner (same '
            f'label, score within {SCORE_TOL:g}, box IoU >= {BOX_IOU}), '
            f'{match["extra"]} of the {match["count"]} exported ones left '
            f'over; worst mask IoU '
            f'{match["worst_mask_iou"]:.4f} (>= {MASK_IOU} needed): the '
            f'export is not faithful, do not deploy it.')
