"""Depthwise convolution (docs/design.md § Depthwise convolution), pure
PyTorch: the oracle and the fallback.

Stride 1, padding K/2 (the map keeps its size), one K × K window and a bias
per channel, optionally plus the input: ``x + dwconv(x)``, the positional
encodings and the FFN of the A2Mamba block.
"""
import torch.nn.functional as F

from ..dtypes import compute_dtype
from .checks import check_depthwise_args


def depthwise_conv2d_formula(x, weight, bias, residual):
    """The convolution as ``F.conv2d`` with ``groups=C`` (arguments already
    checked, in one dtype): also the exported formulation, a standard ONNX
    ``Conv`` with ``group=C`` (and an ``Add``)."""
    out = F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2,
                   groups=x.shape[1])  # B, C, H, W
    return out + x if residual else out


def depthwise_conv2d_reference(x, weight, bias=None, residual=False):
    """Depthwise convolution, stride 1, padding K/2.

    Args:
        x: ``B × C × H × W`` (any memory format).
        weight: ``C × 1 × K × K``, K odd.
        bias: ``C`` or None.
        residual: return ``x + dwconv(x)``.

    Returns:
        ``B × C × H × W`` in x's dtype, computed in fp32 (fp64 when an input
        is fp64).
    """
    check_depthwise_args(x, weight, bias)
    dtype = compute_dtype(x, weight, bias)
    out = depthwise_conv2d_formula(
        x.to(dtype), weight.to(dtype), None if bias is None else
        bias.to(dtype), residual)
    return out.to(x.dtype)
