"""The whole two-stage detector in export form (Mask R-CNN, Cascade Mask
R-CNN, Faster R-CNN): image in, detections out, built from the mmdet
model's own modules and the rewrites of :mod:`.rpn` and :mod:`.rcnn`."""
import torch
import torch.nn as nn

from .boxes import box_limits
from .rcnn import RoiHeadOutputs
from .rpn import RpnProposals

MIN_OPSET = 16  # RoiAlign's coordinate_transformation_mode (half_pixel)


class DetectorOutputs(nn.Module):
    """An mmdet two-stage detector for a normalised, padded ``N × 3 × H ×
    W`` batch ``image`` and its ``(N, 2)`` int64 ``image_shape`` (height,
    width of each resized image inside the padding; boxes are clipped to
    it, as mmdet clips them to ``img_shape``): ``dets`` ``(N, K, 5)`` (x1
    y1 x2 y2 in input pixels, score), ``labels`` ``(N, K)`` int64 and,
    with a mask head, ``masks`` ``(N, K, M, M)`` probabilities; ``K`` = the
    R-CNN ``max_per_img``, best first, rows past an image's detections:
    score 0, label -1, mask 0."""

    min_opset = MIN_OPSET
    input_names = ('image', 'image_shape')

    def __init__(self, detector, shape):
        super().__init__()
        for part in ('rpn_head', 'roi_head'):
            if getattr(detector, part, None) is None:
                raise ValueError(f'{type(detector).__name__} has no '
                                 f'{part}: the whole-detector export '
                                 f'supports two-stage detectors (use '
                                 f'--backbone-only for others)')
        self.backbone = detector.backbone
        self.neck = detector.neck
        with torch.no_grad():  # the FPN level sizes, on a dry run
            feats = self.features(torch.zeros(1, 3, *shape))
        self.shape = tuple(shape)
        self.rpn = RpnProposals(detector.rpn_head,
                                [f.shape[-2:] for f in feats])
        self.roi = RoiHeadOutputs(detector.roi_head)
        self.output_names = ['dets', 'labels'] + (['masks']
                                                  if self.roi.with_mask
                                                  else [])

    def features(self, image):
        feats = self.backbone(image)
        return tuple(self.neck(feats)) if self.neck is not None else feats

    def example_inputs(self, batch=1):
        """Inputs for tracing: zeros, each image filling the input."""
        return (torch.zeros(batch, 3, *self.shape),
                torch.tensor([self.shape] * batch, dtype=torch.long))

    def forward(self, image, image_shape):
        feats = self.features(image)
        limits = box_limits(image_shape)  # (N, 4)
        proposals, valid = self.rpn(feats, limits)
        return self.roi(feats, proposals, valid, limits)
