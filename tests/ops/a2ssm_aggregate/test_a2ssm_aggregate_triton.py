"""The Triton A2SSM aggregation, called directly, against the reference's
autograd: out, dattn_local, dattn_dilated, dstates on padded maps, tuple
dilations, states and gradients in the mixer's non-contiguous layouts,
attention maps in another dtype than the states.

Without a CUDA GPU the kernels run in the Triton interpreter on CPU tensors
(tests/conftest.py sets ``TRITON_INTERPRET=1``): the shapes stay tiny.
"""
import pytest
import torch
from op_testing import assert_close, device_of, gen_for, randn, \
    reference_grads

from mmmamba.ops.a2ssm_aggregate.reference import a2ssm_aggregate_reference
from mmmamba.ops.a2ssm_aggregate.triton import (a2ssm_aggregate_backward,
                                                a2ssm_aggregate_forward)

DEVICE = device_of('triton')


def _check(batch, half, dim, size, padded, kernel, dilation,
           attn_dtype=torch.float32, dtype=torch.float32, seed=0):
    gen = gen_for(seed)
    heads = 2 * half
    attn_shape = (batch, half, *padded, kernel * kernel)
    attn_local = randn(*attn_shape, gen=gen, dtype=attn_dtype, device=DEVICE)
    attn_dilated = randn(*attn_shape, gen=gen, dtype=attn_dtype,
                         order=(0, 2, 3, 1, 4), device=DEVICE)
    # states and grad: B × G × d × H × W, stored B, H, W, G, d
    states = randn(batch, heads, dim, *size, gen=gen, dtype=dtype,
                   order=(0, 3, 4, 1, 2), device=DEVICE)
    grad = randn(batch, heads, dim, *size, gen=gen, dtype=dtype,
                 order=(0, 1, 3, 4, 2), device=DEVICE)
    want_out, want = reference_grads(
        lambda a_l, a_d, s: a2ssm_aggregate_reference(a_l, a_d, s, kernel,
                                                      dilation),
        (attn_local, attn_dilated, states), grad)
    inputs = (attn_local, attn_dilated, states, kernel, dilation)
    assert_close(a2ssm_aggregate_forward(*inputs), want_out, 'out')
    got = a2ssm_aggregate_backward(grad, *inputs)
    # the reference casts attn to states' dtype: that dtype's precision
    for name, g, w in zip(('dattn_local', 'dattn_dilated', 'dstates'), got,
                          want):
        assert_close(g, w, name, precision=dtype)


@pytest.mark.parametrize('batch,size,padded,kernel,dilation', [
    (2, (7, 6), (8, 9), 3, 2),  # padded map
    (1, (10, 14), (12, 15), 5, (2, 3)),  # padded, tuple dilation
    (1, (9, 9), (9, 9), 3, 3),  # no padding
    (2, (6, 7), (7, 7), 7, 1),  # dilated half with dilation 1
])
def test_aggregate_fp32(batch, size, padded, kernel, dilation):
    _check(batch, 2, 3, size, padded, kernel, dilation, seed=size[0])


@pytest.mark.parametrize('attn_dtype,dtype', [
    (torch.bfloat16, torch.bfloat16),
    (torch.float32, torch.float16),  # attention maps in another dtype
    (torch.float64, torch.float64),
])
def test_aggregate_dtypes(attn_dtype, dtype):
    _check(1, 1, 4, (7, 8), (8, 8), 3, 2, attn_dtype, dtype, seed=5)
