"""The depthwise convolution exported to ONNX: the standard ``Conv`` with
``group=C`` (ONNX Runtime's depthwise kernels), against the reference."""
import io

import onnx
import pytest
import torch
from onnx_testing import assert_relative, run_exported
from op_testing import depthwise_inputs

from mmmamba.ops import depthwise_conv2d, depthwise_conv2d_reference


@pytest.mark.parametrize('residual', [False, True])
@pytest.mark.parametrize('opset', [17, 20])
def test_exports_a_grouped_conv(opset, residual):
    inputs = depthwise_inputs(2, 6, 9, 7, 5, seed=opset)
    (out, ), ops = run_exported(
        lambda x, w, b: depthwise_conv2d(x, w, b, residual), inputs, opset)
    assert_relative(out, depthwise_conv2d_reference(*inputs, residual))
    assert set(ops) == ({'Conv', 'Add'} if residual else {'Conv'})


def test_the_conv_node_is_depthwise():
    x, weight, bias = depthwise_inputs(1, 6, 8, 8, 3)
    buffer = io.BytesIO()
    torch.onnx.export(_Conv(weight, bias), (x, ), buffer, dynamo=False,
                      opset_version=17)
    conv, = [n for n in onnx.load_from_string(buffer.getvalue()).graph.node
             if n.op_type == 'Conv']
    attrs = {a.name: onnx.helper.get_attribute_value(a)
             for a in conv.attribute}
    assert attrs['group'] == 6
    assert list(attrs['kernel_shape']) == [3, 3]
    assert list(attrs['pads']) == [1, 1, 1, 1]


class _Conv(torch.nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.weight, self.bias = weight, bias

    def forward(self, x):
        return depthwise_conv2d(x, self.weight, self.bias)
