"""Multi-level RoIAlign for the detector export: ONNX ``RoiAlign`` once per
FPN level on the RoIs mmdet's ``SingleRoIExtractor`` assigns to it."""
import torch
import torch.nn as nn


class RoiAlign(torch.autograd.Function):
    """ONNX ``RoiAlign`` (average mode; ``half_pixel`` coordinates for
    mmcv's ``aligned=True``, opset >= 16): ``feats`` ``(N, C, h, w)``,
    ``boxes`` ``(R, 4)``, ``batch`` ``(R, )`` int64; returns
    ``(R, C, out, out)``. The forward runs mmcv's ``roi_align``."""

    @staticmethod
    def forward(ctx, feats, boxes, batch, size, scale, sampling_ratio,
                aligned):
        from mmcv.ops import roi_align
        rois = torch.cat([batch[:, None].to(boxes), boxes], 1)  # (R, 5)
        return roi_align(feats, rois, (size, size), scale, sampling_ratio,
                         'avg', aligned)

    @staticmethod
    def symbolic(g, feats, boxes, batch, size, scale, sampling_ratio,
                 aligned):
        mode = 'half_pixel' if aligned else 'output_half_pixel'
        return g.op('RoiAlign', feats, boxes, batch, mode_s='avg',
                    output_height_i=size, output_width_i=size,
                    sampling_ratio_i=sampling_ratio, spatial_scale_f=scale,
                    coordinate_transformation_mode_s=mode)


class MultiLevelRoiAlign(nn.Module):
    """mmdet's ``SingleRoIExtractor`` (RoIAlign layers) in export form: each
    level pools the RoIs of that level (level ``floor(log2(sqrt(area) /
    finest_scale + 1e-6))``, clamped; picked by ``NonZero`` and ``Gather``),
    so every RoI is pooled once, not once per level; the levels' results,
    concatenated, go back to RoI order by one ``Gather`` with the inverse
    permutation."""

    def __init__(self, extractor):
        super().__init__()
        name = type(extractor).__name__
        if name != 'SingleRoIExtractor':
            raise ValueError(f'the detector export supports '
                             f'SingleRoIExtractor RoI extractors, not {name}')
        layers = []
        for layer in extractor.roi_layers:
            if type(layer).__name__ != 'RoIAlign' or layer.pool_mode != 'avg':
                raise ValueError(f'the detector export supports average '
                                 f'RoIAlign layers only, not {layer}')
            size = layer.output_size
            if size[0] != size[1]:
                raise ValueError(f'square RoIAlign outputs only, got {size}')
            layers.append((int(size[0]), float(layer.spatial_scale),
                           int(layer.sampling_ratio), bool(layer.aligned)))
        self.layers = layers
        self.finest_scale = extractor.finest_scale

    def levels(self, boxes):
        """The level of each ``(R, 4)`` box, ``(R, )`` int64."""
        scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) *
                           (boxes[:, 3] - boxes[:, 1]))
        levels = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        return levels.clamp(min=0, max=len(self.layers) - 1).long()

    def forward(self, feats, boxes, batch):
        """``feats``: the FPN levels; ``boxes`` ``(R, 4)`` in input pixels,
        ``batch`` ``(R, )`` int64; returns ``(R, C, out, out)``."""
        levels = self.levels(boxes)
        order, parts = [], []
        for level, layer in enumerate(self.layers):
            index = (levels == level).nonzero()[:, 0]  # this level's RoIs
            order.append(index)
            parts.append(RoiAlign.apply(feats[level], boxes[index],
                                        batch[index], *layer))
        order = torch.cat(order)  # (R, ): the RoI of each pooled row
        place = torch.zeros_like(order).scatter(
            0, order, torch.arange(order.shape[0]))  # each RoI's row
        return torch.cat(parts)[place]  # (R, C, out, out)
