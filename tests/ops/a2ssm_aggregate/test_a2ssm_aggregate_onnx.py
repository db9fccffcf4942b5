"""The exported formulation of the A2SSM aggregation
(``a2ssm_aggregate_onnx``) against the reference, and the public op
exporting it."""
import pytest
from onnx_testing import (assert_relative, assert_same_grads, run_exported,
                          to_halo_form)
from op_testing import aggregate_inputs
from oracles import pair

from mmmamba.ops import a2ssm_aggregate, a2ssm_aggregate_reference
from mmmamba.ops.a2ssm_aggregate.onnx import a2ssm_aggregate_onnx
from mmmamba.ops.neighborhood.onnx import halo_form

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


@pytest.mark.parametrize('heads,dim,height,width,ph,pw,kernel,dilation',
                         CASES)
def test_halo_form_attention_matches_the_reference(heads, dim, height, width,
                                                   ph, pw, kernel, dilation):
    """Either half in the export's halo form, as ``na2d_qk`` exports it
    where :func:`halo_form` holds (the padded case included)."""
    inputs = aggregate_inputs(2, heads, dim, height, width, ph, pw, kernel,
                              seed=width)
    pk = pair(kernel)
    forms = [halo_form(ph, pw, pk, d) for d in ((1, 1), pair(dilation))]
    assert any(forms)

    def as_exported(attn, dil, halo):
        return to_halo_form(attn, ph, pw, pk, dil) if halo else attn

    assert_same_grads(
        lambda l, d, s: a2ssm_aggregate_onnx(
            as_exported(l, (1, 1), forms[0]),
            as_exported(d, pair(dilation), forms[1]), s, pk, pair(dilation)),
        lambda l, d, s: a2ssm_aggregate_reference(l, d, s, kernel,
                                                  dilation), inputs)


@pytest.mark.parametrize('opset', [17, 20])
def test_the_public_op_exports_the_matmul_formulation(opset):
    inputs = aggregate_inputs(1, 2, 3, 12, 14, 12, 14, 3, seed=1)
    (out, ), ops = run_exported(
        lambda l, d, s: a2ssm_aggregate(l, d, s, 3, (4, 3)), inputs, opset)
    assert_relative(out, a2ssm_aggregate_reference(*inputs, 3, (4, 3)))
    assert 'MatMul' in ops and 'Einsum' not in ops  # not the reference's
