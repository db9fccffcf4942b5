"""The Triton ``na2d_av`` kernels, called directly, against the reference's
autograd: out, dattn and dvalue for kernel 1..13, dilation 1..3, lengths
not divisible by the dilation, non-contiguous inputs and output gradients,
batch of one, several channel blocks.

Without a CUDA GPU they run in the Triton interpreter on CPU tensors
(tests/conftest.py sets ``TRITON_INTERPRET=1``), which costs ~0.1 ms per
operation: the shapes stay tiny.
"""
import pytest
import torch
from op_testing import assert_close, device_of, gen_for, randn, \
    reference_grads

from mmmamba.ops.neighborhood.reference import na2d_av_reference
from mmmamba.ops.neighborhood.triton import na2d_av_backward, na2d_av_forward

DEVICE = device_of('triton')


def _av_inputs(batch, heads, height, width, dim, kernel, dtype, seed):
    """attn, value and a gradient of out, all non-contiguous."""
    gen = gen_for(seed)
    neighbours = kernel[0] * kernel[1]
    shape = (batch, heads, height, width)
    attn = randn(*shape, neighbours, gen=gen, dtype=dtype,
                 order=(0, 2, 3, 1, 4), device=DEVICE)
    value = randn(*shape, dim, gen=gen, dtype=dtype, order=(0, 2, 1, 4, 3),
                  device=DEVICE)
    grad = randn(*shape, dim, gen=gen, dtype=dtype, order=(1, 0, 2, 3, 4),
                 device=DEVICE)
    return attn, value, grad


def _check_av(attn, value, grad, kernel, dilation):
    want_out, (want_dattn, want_dvalue) = reference_grads(
        lambda a, v: na2d_av_reference(a, v, kernel, dilation),
        (attn, value), grad)
    assert_close(na2d_av_forward(attn, value, kernel, dilation), want_out,
                 'out')
    dattn, dvalue = na2d_av_backward(grad, attn, value, kernel, dilation)
    assert_close(dattn, want_dattn, 'dattn')
    assert_close(dvalue, want_dvalue, 'dvalue')


@pytest.mark.parametrize('batch,heads,height,width,dim,kernel,dilation', [
    (2, 2, 7, 9, 4, (3, 3), (1, 1)),
    (2, 2, 11, 13, 4, (5, 5), (2, 2)),  # not divisible by the dilation
    (1, 2, 7, 8, 4, (7, 7), (1, 1)),  # window ~ map: runs up to 2K - 1
    (2, 1, 10, 11, 3, (3, 3), (3, 3)),
    (1, 2, 16, 7, 4, (5, 3), (3, 2)),
    (1, 1, 15, 16, 3, (7, 5), (2, 3)),
    (1, 1, 13, 5, 70, (13, 3), (1, 1)),  # kernel 13, two channel blocks
    (2, 1, 5, 6, 2, (1, 1), (3, 1)),  # kernel 1
])
def test_av_fp32(batch, heads, height, width, dim, kernel, dilation):
    inputs = _av_inputs(batch, heads, height, width, dim, kernel,
                        torch.float32, seed=height * width)
    _check_av(*inputs, kernel, dilation)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16,
                                   torch.float64])
def test_av_dtypes(dtype):
    inputs = _av_inputs(2, 2, 9, 8, 5, (3, 5), dtype, seed=3)
    _check_av(*inputs, (3, 5), (2, 1))
