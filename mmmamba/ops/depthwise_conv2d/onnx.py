"""The depthwise convolution in the exported formulation: the reference's
``F.conv2d(..., groups=C)``, which exports as the standard ONNX ``Conv``
with ``group=C`` (ONNX Runtime's own depthwise kernels run it), plus an
``Add`` for the residual form."""
from .reference import depthwise_conv2d_formula

__all__ = ['depthwise_conv2d_onnx']


def depthwise_conv2d_onnx(x, weight, bias, residual):
    """``depthwise_conv2d_reference`` (same arguments, already checked) for
    the ONNX graph: no casts, the graph runs in the model's dtype."""
    return depthwise_conv2d_formula(x, weight, bias, residual)
