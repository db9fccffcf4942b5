"""Adaptive average pooling as two matmuls, registered for ONNX export.

ONNX has no adaptive pooling, and torch's exporter only writes
``adaptive_avg_pool2d`` when every output size divides its input size (one
AvgPool). UperNet's pyramid pooling (scales 1, 2, 3, 6 on the stride-32 map,
16×16 at 512²) breaks that rule. At a fixed input size the pooling is a
linear map per axis: output ``(i, j)`` is the mean over rows
``[floor(i·H/oh), ceil((i+1)·H/oh))`` and the matching columns, i.e.
``P_h @ x @ P_wᵀ`` with constant averaging matrices (MatMul, a standard
operator). :func:`adaptive_pool_decomposition` registers that formulation
for the TorchScript exporter for the duration of one export.
"""
import contextlib

import torch
from torch.onnx import (register_custom_op_symbolic,
                        unregister_custom_op_symbolic)
from torch.onnx.symbolic_helper import (_get_tensor_sizes, _maybe_get_const,
                                        parse_args)

OP = 'aten::adaptive_avg_pool2d'


def adaptive_pool_matrix(size, out_size, dtype=torch.float32):
    """``out_size × size`` matrix whose row ``i`` averages the input bins of
    torch's adaptive pooling: ``[floor(i·n/o), ceil((i+1)·n/o))``."""
    matrix = torch.zeros(out_size, size, dtype=dtype)
    for i in range(out_size):
        start = (i * size) // out_size
        end = -(-((i + 1) * size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@parse_args('v', 'v')
def _adaptive_avg_pool2d_symbolic(g, x, output_size):
    sizes = _get_tensor_sizes(x)
    out = _maybe_get_const(output_size, 'is')
    if sizes is None or None in sizes[-2:] or not isinstance(out, list):
        raise RuntimeError(
            'adaptive_avg_pool2d exports as two matmuls only with a static '
            f'input size and output size (got input sizes {sizes}, output '
            f'size {out}); export at a fixed H×W.')
    height, width = sizes[-2:]
    p_h = adaptive_pool_matrix(height, out[0])
    p_w_t = adaptive_pool_matrix(width, out[1]).T.contiguous()
    rows = g.op('MatMul', x, g.op('Constant', value_t=p_w_t))  # ..., H, ow
    return g.op('MatMul', g.op('Constant', value_t=p_h), rows)  # ..., oh, ow


@contextlib.contextmanager
def adaptive_pool_decomposition(opset):
    """Export ``adaptive_avg_pool2d`` as matmuls inside the block (opset
    ``opset``); the exporter's own symbolic is restored afterwards."""
    register_custom_op_symbolic(OP, _adaptive_avg_pool2d_symbolic, opset)
    try:
        yield
    finally:
        unregister_custom_op_symbolic(OP, opset)
