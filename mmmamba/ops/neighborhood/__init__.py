"""2-D neighborhood attention, ``na2d_qk`` and ``na2d_av`` (NATTEN <= 0.17
semantics): checks (:mod:`.checks`, window rule :mod:`.window`), the
reference (:mod:`.reference`), the custom ops and compiled-kernel calls
(:mod:`.library`), the Triton ``av`` kernels (:mod:`.triton`), the
formulation exported to ONNX (:mod:`.onnx`)."""
import torch

from ..dispatch import choose_backend
from . import library  # noqa: F401  (registers the ops and torch.ops.mmmamba)
from .checks import check_av_args, check_qk_args
from .onnx import na2d_av_onnx, na2d_qk_onnx
from .reference import na2d_av_reference, na2d_qk_reference

__all__ = ['na2d_qk', 'na2d_av', 'na2d_qk_reference', 'na2d_av_reference']


def na2d_qk(query, key, kernel_size, dilation=1, rpb=None):
    """Neighborhood attention logits; see :func:`na2d_qk_reference` (while
    exporting to ONNX: :func:`.onnx.na2d_qk_onnx`)."""
    kernel, dil = check_qk_args(query, key, kernel_size, dilation, rpb)
    backend = choose_backend('na2d_qk', query, key)
    if backend == 'reference':
        if torch.onnx.is_in_onnx_export():
            return na2d_qk_onnx(query, key, kernel, dil, rpb)
        return na2d_qk_reference(query, key, kernel, dil, rpb)
    return torch.ops.mmmamba.na2d_qk(query, key, rpb, list(kernel), list(dil),
                                     backend)


def na2d_av(attn, value, kernel_size, dilation=1):
    """Neighborhood attention output; see :func:`na2d_av_reference` (while
    exporting to ONNX: :func:`.onnx.na2d_av_onnx`)."""
    kernel, dil = check_av_args(attn, value, kernel_size, dilation)
    backend = choose_backend('na2d_av', attn, value)
    if backend == 'reference':
        if torch.onnx.is_in_onnx_export():
            return na2d_av_onnx(attn, value, kernel, dil)
        return na2d_av_reference(attn, value, kernel, dil)
    return torch.ops.mmmamba.na2d_av(attn, value, list(kernel), list(dil),
                                     backend)
