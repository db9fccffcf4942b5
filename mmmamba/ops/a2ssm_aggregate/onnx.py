"""The fused A2SSM aggregation in the exported formulation: the states laid
out as values once, then both halves through
:func:`~mmmamba.ops.neighborhood.onnx.na2d_av_onnx` (matrix products over 2-D
tiles instead of a gather of every neighbour), with the attention in either
of the forms ``na2d_qk`` exports."""
import torch

from ..dtypes import as_dtype
from ..neighborhood.onnx import na2d_av_onnx
from ..onnx_shapes import static_shape
from .checks import attention_map
from .reference import states_as_values

__all__ = ['a2ssm_aggregate_onnx']


def a2ssm_aggregate_onnx(attn_local, attn_dilated, states, kernel, dil):
    """``a2ssm_aggregate_reference`` (same arguments, already checked:
    ``kernel`` and ``dil`` are pairs) for the ONNX graph."""
    height, width = static_shape(states)[-2:]
    half, padded_h, padded_w = attention_map(
        attn_local, 'attn_local', height, width, kernel, halo_form=True)
    values = states_as_values(states, padded_h, padded_w)  # B, G, Hp, Wp, d
    attn_local, attn_dilated = (as_dtype(a, states.dtype)
                                for a in (attn_local, attn_dilated))
    local = na2d_av_onnx(attn_local, values[:, :half], kernel, (1, 1))
    dilated = na2d_av_onnx(attn_dilated, values[:, half:], kernel, dil)
    out = torch.cat([local, dilated], dim=1)[:, :, :height, :width]
    return out.permute(0, 1, 4, 2, 3).contiguous()  # B, G, d, H, W
