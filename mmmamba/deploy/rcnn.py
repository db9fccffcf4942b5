"""The R-CNN heads of the detector export: mmdet's ``StandardRoIHead`` or
``CascadeRoIHead`` predict (box stages, class-aware NMS, mask heads) on a
fixed number of proposals per image."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .boxes import decode_deltas, delta_decoder
from .nms import batched_nms
from .roi import MultiLevelRoiAlign
from .rpn import nms_iou


def _as_list(modules):
    return list(modules) if isinstance(modules, nn.ModuleList) else [modules]


def _check_box_head(head):
    if getattr(head, 'custom_cls_channels', False):
        raise ValueError(f'the detector export needs a softmax box '
                         f'classifier; {type(head).__name__} has custom '
                         f'classification channels')
    if getattr(head, 'predict_box_type', 'hbox') != 'hbox':
        raise ValueError('the detector export supports horizontal boxes only')


class RoiHeadOutputs(nn.Module):
    """Detections of an mmdet two-stage RoI head for ``(N, R, 4)``
    proposals (``(N, R)`` bool: the rows that hold one): ``dets`` ``(N, K,
    5)``, ``labels`` ``(N, K)`` int64, and with a mask head ``masks`` ``(N,
    K, M, M)`` probabilities of each detection's class (``K`` =
    ``max_per_img``; empty rows: score 0, label -1, mask 0)."""

    def __init__(self, roi_head):
        super().__init__()
        if roi_head.with_shared_head:
            raise ValueError('the detector export does not support RoI '
                             'heads with a shared head')
        cfg = roi_head.test_cfg
        self.box_extractors = nn.ModuleList(
            MultiLevelRoiAlign(e)
            for e in _as_list(roi_head.bbox_roi_extractor))
        self.box_heads = nn.ModuleList(_as_list(roi_head.bbox_head))
        for head in self.box_heads:
            _check_box_head(head)
        self.decoders = [delta_decoder(h.bbox_coder) for h in self.box_heads]
        self.num_classes = self.box_heads[-1].num_classes
        self.score_thr = float(cfg['score_thr'])
        self.iou_threshold = nms_iou(cfg['nms'])
        self.max_per_img = cfg['max_per_img']
        self.with_mask = roi_head.with_mask
        if self.with_mask:
            self.mask_extractors = nn.ModuleList(
                MultiLevelRoiAlign(e)
                for e in _as_list(roi_head.mask_roi_extractor))
            self.mask_heads = nn.ModuleList(_as_list(roi_head.mask_head))

    def class_deltas(self, head, deltas, labels):
        """The ``(R, 4)`` deltas of each RoI's ``labels`` class (cascade
        refinement, mmdet's ``regress_by_class``)."""
        if head.reg_class_agnostic:
            return deltas
        per_class = deltas.reshape(deltas.shape[0], -1, 4)  # (R, C, 4)
        return per_class.gather(1, labels[:, None, None].expand(-1, 1, 4))[:,
                                                                           0]

    def box_stages(self, feats, rois, batch, limits):
        """Every box stage on ``(NR, 4)`` RoIs (``limits``: their images'
        ``(NR, 4)`` clip limits): the stage-averaged logits ``(NR, C + 1)``,
        the last stage's deltas and its input RoIs."""
        logits_sum = 0
        last = len(self.box_heads) - 1
        for stage, (extractor, head) in enumerate(
                zip(self.box_extractors, self.box_heads)):
            logits, deltas = head(extractor(feats, rois, batch))
            logits_sum = logits_sum + logits
            if stage < last:
                labels = logits[:, :-1].argmax(1)  # (NR, )
                rois = decode_deltas(rois, self.class_deltas(
                    head, deltas, labels), limits, **self.decoders[stage])
        return logits_sum / float(len(self.box_heads)), deltas, rois

    def forward(self, feats, proposals, valid, limits):
        """``limits``: ``(N, 4)`` clip limits of the images
        (:func:`~.boxes.box_limits`)."""
        rois_per_img = proposals.shape[1]
        batch = torch.ones_like(valid, dtype=torch.long).cumsum(0) - 1
        roi_limits = limits[:, None].expand_as(proposals).reshape(-1, 4)
        logits, deltas, rois = self.box_stages(
            feats, proposals.reshape(-1, 4), batch.reshape(-1), roi_limits)
        classes = self.num_classes
        scores = F.softmax(logits, dim=-1)[:, :classes]  # (NR, C)
        deltas = deltas.reshape(-1, rois_per_img, deltas.shape[1] // 4, 4)
        rois = rois.reshape(-1, rois_per_img, 1, 4)
        boxes = decode_deltas(rois, deltas, limits[:, None, None],
                              **self.decoders[-1])  # (N, R, C or 1, 4)
        boxes = boxes.expand(-1, -1, classes, -1).reshape(
            -1, rois_per_img * classes, 4)  # (N, R C, 4)
        groups = torch.arange(rois_per_img * classes) % classes
        candidates = valid[:, :, None].expand(-1, -1, classes).reshape(
            -1, rois_per_img * classes)
        top, index, kept = batched_nms(
            boxes, scores.reshape(-1, rois_per_img * classes), groups,
            candidates, self.iou_threshold, self.score_thr, self.max_per_img)
        det_boxes = boxes.gather(1, index[..., None].expand(-1, -1, 4))
        det_scores = torch.where(kept, top, torch.zeros_like(top))
        labels = torch.where(kept, index % classes, torch.full_like(index, -1))
        outputs = [torch.cat([det_boxes, det_scores[..., None]], -1), labels]
        if self.with_mask:
            outputs.append(self.masks(feats, det_boxes, labels, kept))
        return self.pad(outputs)

    def masks(self, feats, boxes, labels, kept):
        """``(N, K, M, M)`` mask probabilities of each detection's class:
        the mean of the mask stages' sigmoids (one stage: Mask R-CNN). The
        mask heads run on the kept detections only (``NonZero`` and
        ``Gather``, as mmdet runs them on its detections); other rows are 0.
        """
        num = boxes.shape[1]
        batch = torch.ones_like(labels).cumsum(0).reshape(-1) - 1  # (N K, )
        rows = kept.reshape(-1).nonzero()[:, 0]  # (V, ): the detections
        boxes, batch = boxes.reshape(-1, 4)[rows], batch[rows]
        channel = labels.reshape(-1)[rows]  # (V, )
        probs = 0
        for extractor, head in zip(self.mask_extractors, self.mask_heads):
            logits = head(extractor(feats, boxes, batch))  # (V, C', M, M)
            probs = probs + logits.sigmoid()
        probs = probs / float(len(self.mask_heads))
        size = probs.shape[-1]
        if probs.shape[1] > 1:  # class-specific masks
            probs = probs.gather(1, channel[:, None, None, None].expand(
                -1, 1, size, size))
        masks = probs.new_zeros(kept.numel(), size, size)  # (N K, M, M)
        masks = masks.index_put((rows, ), probs[:, 0])
        return masks.reshape(-1, num, size, size)  # (N, K, M, M)

    def pad(self, outputs):
        """Pad the detection axis to ``max_per_img`` rows (fewer candidates
        than that: a small image)."""
        missing = self.max_per_img - outputs[0].shape[1]
        if missing <= 0:
            return tuple(outputs)
        fills = [0.0, -1, 0.0]
        return tuple(
            F.pad(out, (0, 0) * (out.dim() - 2) + (0, missing), value=fill)
            for out, fill in zip(outputs, fills))
