"""The selective scan that returns every state, ``selective_scan_states``
(A2SSM): checks (:mod:`.checks`), the reference (:mod:`.reference`), the
formulation exported to ONNX (:mod:`.onnx`), the custom op and compiled-kernel calls
(:mod:`.library`), the Triton kernels (:mod:`.triton`)."""
import torch

from ..dispatch import choose_backend
from . import library  # noqa: F401  (registers the op and torch.ops.mmmamba)
from .checks import check_scan_args
from .onnx import selective_scan_states_onnx
from .reference import selective_scan_states_reference

__all__ = ['selective_scan_states', 'selective_scan_states_reference']


def selective_scan_states(u, delta, A, B, delta_bias=None,
                          delta_softplus=True):
    """All scan states; see :func:`selective_scan_states_reference`.

    While exporting to ONNX the reference runs as
    :func:`.onnx.selective_scan_states_onnx` (the same chunked scan, written
    for the exporter).
    """
    check_scan_args(u, delta, A, B, delta_bias)
    backend = choose_backend('selective_scan_states', u)
    if backend == 'reference':
        scan = (selective_scan_states_onnx if torch.onnx.is_in_onnx_export()
                else selective_scan_states_reference)
        return scan(u, delta, A, B, delta_bias, delta_softplus)
    if B.dim() == 4:
        B = B.squeeze(1)  # batch, N, L
    return torch.ops.mmmamba.selective_scan_states(u, delta, A, B, delta_bias,
                                                   bool(delta_softplus),
                                                   backend)
