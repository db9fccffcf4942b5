"""The exported formulation of the A2SSM aggregation
(``a2ssm_aggregate_onnx``) against the reference, and the public op
exporting it."""
import pytest
from onnx_testing import assert_relative, assert_same_grads, run_exported
from op_testing import aggregate_inputs

from mmmamba.ops import a2ssm_aggregate, a2ssm_aggregate_reference
from mmmamba.ops.a2ssm_aggregate.onnx import a2ssm_aggregate_onnx

# (heads, d, H, W, Hp, Wp, K, dilation)
CASES = [
    (2, 3, 12, 14, 12, 14, 3, (4, 3)),  # no padding, dilated half
    (4, 2, 3, 9, 5, 9, 5, (1, 1)),  # H padded to the window
    (2, 4, 23, 17, 23, 17, 5, (3, 2)),  # uneven dilation groups
]


@pytest.mark.parametrize('heads,dim,height,width,ph,pw,kernel,dilation',
                         CASES)
def test_outputs_and_grads_match_the_reference(heads, dim, height, width, ph,
                                               pw, kernel, dilation):
    inputs = aggregate_inputs(2, heads, dim, height, width, ph, pw, kernel,
                              seed=height)
    assert_same_grads(
        lambda l, d, s: a2ssm_aggregate_onnx(l, d, s, (kernel, kernel),
                                             dilation),
        lambda l, d, s: a2ssm_aggregate_reference(l, d, s, kernel,
                                                  dilation), inputs)


@pytest.mark.parametrize('opset', [17, 20])
def test_the_public_op_exports_the_matmul_formulation(opset):
    inputs = aggregate_inputs(1, 2, 3, 12, 14, 12, 14, 3, seed=1)
    (out, ), ops = run_exported(
        lambda l, d, s: a2ssm_aggregate(l, d, s, 3, (4, 3)), inputs, opset)
    assert_relative(out, a2ssm_aggregate_reference(*inputs, 3, (4, 3)))
    assert 'MatMul' in ops and 'Einsum' not in ops  # not the reference's
