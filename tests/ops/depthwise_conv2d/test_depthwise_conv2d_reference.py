"""The depthwise-convolution reference against a brute-force sum of shifted
maps (output and, through autograd, the gradients), its dtype rule, and the
argument errors."""
import pytest
import torch
import torch.nn.functional as F
from op_testing import assert_close, depthwise_inputs

from mmmamba.ops import depthwise_conv2d_reference


def brute_depthwise(x, weight, bias, residual):
    """Σ over the K² taps of weight[c, ki, kj] · x shifted by (ki, kj) - K/2,
    on a zero-padded copy, in float64."""
    K = weight.shape[-1]
    pad = K // 2
    padded = F.pad(x.double(), (pad, pad, pad, pad))
    H, W = x.shape[-2:]
    out = torch.zeros_like(x, dtype=torch.float64)
    for ki in range(K):
        for kj in range(K):
            tap = weight[:, 0, ki, kj].double().view(1, -1, 1, 1)
            out += tap * padded[:, :, ki:ki + H, kj:kj + W]
    if bias is not None:
        out += bias.double().view(1, -1, 1, 1)
    return out + x.double() if residual else out


@pytest.mark.parametrize('residual', [False, True])
@pytest.mark.parametrize('shape', [(2, 5, 7, 9, 3), (1, 3, 6, 5, 5),
                                   (1, 2, 3, 4, 7), (1, 4, 5, 5, 1)],
                         ids=str)
def test_matches_brute_force(shape, residual):
    x, weight, bias = depthwise_inputs(*shape, dtype=torch.float64,
                                       seed=shape[-1])
    assert_close(depthwise_conv2d_reference(x, weight, bias, residual),
                 brute_depthwise(x, weight, bias, residual))


def test_gradients_match_brute_force():
    inputs = [t.requires_grad_() for t in
              depthwise_inputs(2, 3, 6, 7, 5, dtype=torch.float64)]
    grad = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    got = torch.autograd.grad(depthwise_conv2d_reference(*inputs, True),
                              inputs, grad)
    want = torch.autograd.grad(brute_depthwise(*inputs, True), inputs, grad)
    for g, w in zip(got, want):
        assert_close(g, w)


def test_low_precision_is_computed_in_fp32():
    x, weight, bias = depthwise_inputs(1, 4, 8, 8, 3, dtype=torch.bfloat16)
    out = depthwise_conv2d_reference(x, weight, bias, True)
    assert out.dtype == torch.bfloat16
    want = brute_depthwise(x, weight, bias, True).to(torch.bfloat16)
    assert_close(out, want)


def test_bad_arguments_raise_clear_errors():
    x, weight, bias = depthwise_inputs(1, 4, 6, 6, 3)
    with pytest.raises(ValueError, match=r'x must be \(B, C, H, W\)'):
        depthwise_conv2d_reference(x[0], weight, bias)
    with pytest.raises(ValueError, match='K odd'):
        depthwise_conv2d_reference(x, torch.zeros(4, 1, 4, 4), bias)
    with pytest.raises(ValueError, match=r'weight must be \(C, 1, K, K\)'):
        depthwise_conv2d_reference(x, weight[:3], bias)
    with pytest.raises(ValueError, match=r'bias must be \(4,\)'):
        depthwise_conv2d_reference(x, weight, bias[:2])
    with pytest.raises(TypeError, match='floating-point'):
        depthwise_conv2d_reference(x.long(), weight, bias)
    with pytest.raises(ValueError, match='device of x'):
        depthwise_conv2d_reference(x, weight.to('meta'), bias)
