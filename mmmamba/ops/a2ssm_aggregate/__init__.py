"""The fused A2SSM aggregation ``a2ssm_aggregate``: the scan's states
aggregated by the local and the dilated attention maps in one pass. Checks
(:mod:`.checks`), reference (:mod:`.reference`), custom op and
compiled-kernel calls (:mod:`.library`), Triton kernels (:mod:`.triton`),
the formulation exported to ONNX (:mod:`.onnx`)."""
import torch

from ..dispatch import choose_backend
from . import library  # noqa: F401  (registers the op and torch.ops.mmmamba)
from .checks import check_aggregate_args
from .onnx import a2ssm_aggregate_onnx
from .reference import a2ssm_aggregate_reference

__all__ = ['a2ssm_aggregate', 'a2ssm_aggregate_reference']


def a2ssm_aggregate(attn_local, attn_dilated, states, kernel_size, dilation):
    """Fused A2SSM aggregation; see :func:`a2ssm_aggregate_reference` (while
    exporting to ONNX: :func:`.onnx.a2ssm_aggregate_onnx`)."""
    kernel, dil = check_aggregate_args(attn_local, attn_dilated, states,
                                       kernel_size, dilation)
    backend = choose_backend('a2ssm_aggregate', states)
    if backend == 'reference':
        if torch.onnx.is_in_onnx_export():
            return a2ssm_aggregate_onnx(attn_local, attn_dilated, states,
                                        kernel, dil)
        return a2ssm_aggregate_reference(attn_local, attn_dilated, states,
                                         kernel, dil)
    return torch.ops.mmmamba.a2ssm_aggregate(attn_local, attn_dilated, states,
                                             kernel[0], list(dil), backend)
