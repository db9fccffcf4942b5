"""Adaptive average pooling as two matmuls, for the duration of an export.

ONNX has no adaptive pooling, and torch's exporter only writes
``adaptive_avg_pool2d`` when every output size divides its input size (one
AvgPool). UperNet's pyramid pooling (scales 1, 2, 3, 6 on the stride-32 map,
16×16 at 512²) breaks that rule. At a fixed input size the pooling is a
linear map per axis: output ``(i, j)`` is the mean over rows
``[floor(i·H/oh), ceil((i+1)·H/oh))`` and the matching columns, i.e.
``P_h @ x @ P_wᵀ`` with constant averaging matrices (MatMul, a standard
operator). :func:`adaptive_pool_decomposition` makes
``F.adaptive_avg_pool2d`` (what ``nn.AdaptiveAvgPool2d`` calls) compute
that while the model is traced, where the map size is a known number
(the exporter's own shape inference loses it once the batch axis is
dynamic).
"""
import contextlib

import torch
import torch.nn.functional as F


def adaptive_pool_matrix(size, out_size, dtype=torch.float32):
    """``out_size × size`` matrix whose row ``i`` averages the input bins of
    torch's adaptive pooling: ``[floor(i·n/o), ceil((i+1)·n/o))``."""
    matrix = torch.zeros(out_size, size, dtype=dtype)
    for i in range(out_size):
        start = (i * size) // out_size
        end = -(-((i + 1) * size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool2d_matmul(x, output_size):
    """``F.adaptive_avg_pool2d(x, output_size)`` as ``P_h @ x @ P_wᵀ``."""
    height, width = (int(n) for n in x.shape[-2:])
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    out_h, out_w = (n if n is not None else size
                    for n, size in zip(output_size, (height, width)))
    p_h = adaptive_pool_matrix(height, out_h, x.dtype).to(x.device)
    p_w_t = adaptive_pool_matrix(width, out_w, x.dtype).to(x.device).T
    return p_h @ (x @ p_w_t)  # ..., oh, ow


@contextlib.contextmanager
def adaptive_pool_decomposition():
    """``F.adaptive_avg_pool2d`` runs as :func:`adaptive_avg_pool2d_matmul`
    inside the block (an export's trace); restored afterwards."""
    original = F.adaptive_avg_pool2d
    F.adaptive_avg_pool2d = adaptive_avg_pool2d_matmul
    try:
        yield
    finally:
        F.adaptive_avg_pool2d = original
