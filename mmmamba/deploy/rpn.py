"""The RPN of the detector export: mmdet's ``RPNHead.predict`` for a fixed
input size (constant anchors), per-level TopK, decoding and NMS."""
import torch
import torch.nn as nn

from .boxes import box_sizes, decode_deltas, delta_decoder
from .nms import batched_nms


def nms_iou(cfg):
    """The IoU threshold of an mmdet ``nms`` config; ValueError for another
    kind (soft NMS has no ONNX operator)."""
    kind = cfg.get('type', 'nms')
    if kind != 'nms':
        raise ValueError(f'the detector export implements nms only, not '
                         f'{kind!r}')
    return float(cfg['iou_threshold'])


class RpnProposals(nn.Module):
    """The proposals of an mmdet ``RPNHead`` for ``N`` images whose FPN
    levels have ``featmap_sizes``: ``(N, K, 4)`` boxes and a ``(N, K)`` bool
    of the rows that hold one (``K = min(max_per_img, candidates)``), best
    first."""

    def __init__(self, rpn_head, featmap_sizes):
        super().__init__()
        cfg = rpn_head.test_cfg
        self.head = rpn_head
        self.sigmoid = rpn_head.use_sigmoid_cls
        self.decoder = delta_decoder(rpn_head.bbox_coder)
        self.nms_pre = cfg.get('nms_pre', -1)
        self.max_per_img = cfg['max_per_img']
        self.iou_threshold = nms_iou(cfg['nms'])
        self.min_size = cfg.get('min_bbox_size', -1)
        anchors = rpn_head.prior_generator.grid_priors(featmap_sizes,
                                                       device='cpu')
        self.num_levels = len(anchors)
        counts = []
        for level, level_anchors in enumerate(anchors):
            self.register_buffer(f'anchors_{level}', level_anchors,
                                 persistent=False)
            count = len(level_anchors)
            counts.append(self.nms_pre if 0 < self.nms_pre < count else count)
        levels = torch.cat([torch.full((c, ), i, dtype=torch.long)
                            for i, c in enumerate(counts)])
        self.register_buffer('levels', levels, persistent=False)

    def level_candidates(self, level, logits, deltas):
        """The level's best ``nms_pre`` anchors: scores ``(N, k)``, deltas
        and anchors ``(N, k, 4)``."""
        anchors = getattr(self, f'anchors_{level}')  # (A, 4)
        logits = logits.permute(0, 2, 3, 1)  # (N, h, w, priors * classes)
        if self.sigmoid:
            scores = logits.reshape(logits.shape[0], -1).sigmoid()
        else:
            scores = logits.reshape(logits.shape[0], -1, 2).softmax(-1)[..., 0]
        deltas = deltas.permute(0, 2, 3, 1).reshape(deltas.shape[0], -1, 4)
        if 0 < self.nms_pre < len(anchors):
            scores, index = scores.topk(self.nms_pre, dim=1)  # (N, k)
            deltas = deltas.gather(1, index[..., None].expand(-1, -1, 4))
            return scores, deltas, anchors[index]
        return scores, deltas, anchors.expand_as(deltas)

    def forward(self, feats, limits):
        """``limits``: ``(N, 4)`` clip limits of the images
        (:func:`~.boxes.box_limits`)."""
        logits, deltas = self.head(feats)
        candidates = [self.level_candidates(level, logits[level],
                                            deltas[level])
                      for level in range(self.num_levels)]
        scores, deltas, anchors = (torch.cat(parts, 1)
                                   for parts in zip(*candidates))
        boxes = decode_deltas(anchors, deltas, limits[:, None],
                              **self.decoder)  # (N, P, 4)
        if self.min_size >= 0:
            widths, heights = box_sizes(boxes)
            valid = (widths > self.min_size) & (heights > self.min_size)
        else:
            valid = torch.ones_like(scores, dtype=torch.bool)
        # no score threshold: -1 is below every probability
        _, index, kept = batched_nms(boxes, scores, self.levels, valid,
                                     self.iou_threshold, -1.0,
                                     self.max_per_img)
        proposals = boxes.gather(1, index[..., None].expand(-1, -1, 4))
        return proposals, kept
