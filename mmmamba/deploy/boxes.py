"""Box arithmetic of the detector export, written with plain tensor ops."""
import math

import torch

# the decode() default, which mmdet's heads never override
WH_RATIO_CLIP = 16 / 1000


def delta_decoder(coder):
    """The arguments of :func:`decode_deltas` from an mmdet
    ``DeltaXYWHBBoxCoder``; ValueError for any other coder or option."""
    name = type(coder).__name__
    if name != 'DeltaXYWHBBoxCoder':
        raise ValueError(f'the detector export decodes DeltaXYWHBBoxCoder '
                         f'deltas only, not {name}')
    if coder.add_ctr_clamp:
        raise ValueError('the detector export does not implement the '
                         'DeltaXYWHBBoxCoder option add_ctr_clamp=True')
    return dict(means=tuple(coder.means), stds=tuple(coder.stds),
                clip_border=coder.clip_border)


def decode_deltas(priors, deltas, limits, means, stds, clip_border,
                  wh_ratio_clip=WH_RATIO_CLIP):
    """mmdet's ``delta2bbox``: ``priors`` and ``deltas`` ``(..., 4)``
    (broadcast against each other), boxes ``(..., 4)`` x1 y1 x2 y2, clipped
    to ``[0, limits]`` when ``clip_border`` (``limits``: W H W H of each
    box's image, broadcast against the boxes; :func:`box_limits`)."""
    deltas = deltas * deltas.new_tensor(stds) + deltas.new_tensor(means)
    centres = (priors[..., :2] + priors[..., 2:]) * 0.5  # (..., 2)
    sizes = priors[..., 2:] - priors[..., :2]  # (..., 2)
    max_ratio = abs(math.log(wh_ratio_clip))
    log_sizes = deltas[..., 2:].clamp(min=-max_ratio, max=max_ratio)
    centres = centres + sizes * deltas[..., :2]
    sizes = sizes * log_sizes.exp()
    boxes = torch.cat([centres - sizes * 0.5, centres + sizes * 0.5], -1)
    if not clip_border:
        return boxes
    return torch.minimum(boxes.clamp(min=0), limits)


def box_limits(image_shape):
    """``(N, 4)`` W H W H from ``(N, 2)`` image sizes (height, width)."""
    sizes = image_shape.flip(1).to(torch.float32)  # (N, 2): width, height
    return torch.cat([sizes, sizes], 1)


def box_sizes(boxes):
    """Widths and heights of ``(..., 4)`` boxes, ``(..., )`` each."""
    return boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
