"""The depthwise convolution ``depthwise_conv2d``: stride 1, padding K/2, a
K × K window and a bias per channel, on channels-last maps, optionally
fused with the residual ``x + dwconv(x)``. Checks (:mod:`.checks`),
reference (:mod:`.reference`), custom op and compiled-kernel calls
(:mod:`.library`), the formulation exported to ONNX (:mod:`.onnx`)."""
import torch

from ..dispatch import choose_backend
from . import library  # noqa: F401  (registers the op and torch.ops.mmmamba)
from .library import DepthwiseConv2dFunction
from .checks import check_depthwise_args
from .onnx import depthwise_conv2d_onnx
from .reference import depthwise_conv2d_reference

__all__ = ['depthwise_conv2d', 'depthwise_conv2d_reference']


def depthwise_conv2d(x, weight, bias=None, residual=False):
    """Depthwise convolution; see :func:`depthwise_conv2d_reference` (while
    exporting to ONNX: :func:`.onnx.depthwise_conv2d_onnx`). The kernels
    run on the channels-last layout: an NCHW-contiguous ``x`` is copied into
    it and its result back (as ``nn.Conv2d`` keeps x's memory format); any
    other ``x`` gets a channels-last result."""
    check_depthwise_args(x, weight, bias)
    backend = choose_backend('depthwise_conv2d', x)
    if backend == 'reference':
        if torch.onnx.is_in_onnx_export():
            return depthwise_conv2d_onnx(x, weight, bias, residual)
        return depthwise_conv2d_reference(x, weight, bias, residual)
    if torch.compiler.is_compiling():
        out = torch.ops.mmmamba.depthwise_conv2d(x, weight, bias, residual,
                                                 backend)  # channels-last
    else:  # the same kernels without the dispatcher's Python layers
        out = DepthwiseConv2dFunction.apply(x, weight, bias, residual,
                                            backend)
    nchw = x.is_contiguous() and not x.is_contiguous(
        memory_format=torch.channels_last)
    return out.contiguous() if nchw else out
