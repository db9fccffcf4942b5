"""The neighborhood-attention kernels of every backend against the reference.

Outputs and every gradient (dq, dk, drpb; dattn, dv) of qk (+rpb) →
softmax → av: every kernel backend (``cpu``, ``cuda_host``, ``triton``,
``cuda`` on a GPU; Triton has no qk kernel, the reference runs it) in each
dtype on one shape; the compiled backends on the A2Mamba-T and every arch's
stage shapes, dilation up to the kernel size, lengths not divisible by the
dilation, tuple windows, non-contiguous inputs, batch of one, gradcheck in
float64.
"""
import pytest
import torch
from op_testing import (COMPILED_BACKENDS, KERNEL_BACKENDS, LOW_PRECISION,
                        check_backend, device_of, gen_for, leaves, na_inputs,
                        neighborhood_stage_cases, randn)

from mmmamba.ops import na2d_av, na2d_qk, use_backend

# (B, heads, H, W, dim, kernel, dilation)
CASES = [
    (1, 1, 56, 56, 24, 11, 5),  # A2Mamba-T stage 1 at 224², batch of one
    (2, 2, 28, 28, 24, 9, 3),  # stage 2
    (2, 4, 14, 14, 32, 7, 2),  # stage 3
    (1, 8, 7, 7, 28, 7, 1),  # stage 4 (whole map)
    (1, 1, 52, 50, 4, 7, 7),  # dilation = kernel, 52, 50 not divisible by 7
    (1, 2, 17, 23, 6, (3, 5), (2, 4)),  # tuple window
    (1, 1, 27, 30, 3, 13, (2, 1)),  # kernel 13
    (2, 1, 5, 6, 2, 1, 3),  # kernel 1
    (1, 1, 20, 21, 16, 17, (1, 1)),  # window wider than one 16-lane vector
    (1, 2, 12, 13, 64, 3, 2),  # head dim 64 (a fixed-width body)
]
NAMES = ('out+logits', 'dq', 'dk', 'dv', 'drpb')


def _attention(kernel, dilation):
    """qk (+rpb) → softmax (fp32) → av; the av output and the logits in one
    tensor, so the weighted loss reaches qk directly too (K = 1 has a
    constant softmax)."""
    def fn(q, k, v, rpb):
        logits = na2d_qk(q, k, kernel, dilation, rpb=rpb)
        attn = logits.float().softmax(-1).to(v.dtype)
        out = na2d_av(attn, v, kernel, dilation)
        return torch.cat([out.flatten(), logits.flatten()])
    return fn


@pytest.mark.parametrize('dtype', [torch.float32, *LOW_PRECISION], ids=str)
@pytest.mark.parametrize('backend', KERNEL_BACKENDS)
def test_every_backend_matches_reference(backend, dtype):
    inputs = na_inputs(2, 2, 13, 17, 8, 5, dtype, seed=4)
    check_backend(backend, _attention(5, (2, 3)), inputs, NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('case', CASES, ids=str)
def test_matches_reference_fp32(case, backend):
    *shape, kernel, dilation = case
    inputs = na_inputs(*shape, kernel, seed=len(str(case)))
    check_backend(backend, _attention(kernel, dilation), inputs, NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('case', neighborhood_stage_cases(), ids=str)
def test_stage_shapes_of_every_arch(case, backend):
    """(size, head_dim, kernel, dilation) of every arch at 224² and 512²;
    one head (the window math does not depend on the head count)."""
    size, dim, kernel, dilation = case
    inputs = na_inputs(1, 1, size, size, dim, kernel, seed=size)
    check_backend(backend, _attention(kernel, dilation), inputs, NAMES)


@pytest.mark.parametrize('dtype', LOW_PRECISION, ids=str)
@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_low_precision_matches_reference(backend, dtype):
    inputs = na_inputs(2, 2, 19, 21, 8, 5, dtype, seed=3)
    check_backend(backend, _attention(5, (3, 2)), inputs, NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_av_gradients_of_raw_attn(backend):
    """dattn against the reference without a softmax in between."""
    gen = gen_for(5)
    attn = torch.randn(1, 2, 13, 16, 9, generator=gen)
    v = torch.randn(1, 2, 13, 16, 5, generator=gen)
    check_backend(backend, lambda a, v: na2d_av(a, v, 3, (4, 5)), [attn, v],
                  ('out', 'dattn', 'dv'))


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_non_contiguous_inputs(backend):
    gen = gen_for(7)
    # B, H, W, heads, d storage, permuted to B, heads, H, W, d; and a slice
    base = torch.randn(2, 15, 14, 4, 6, generator=gen)
    q = base.permute(0, 3, 1, 2, 4)[:, :2]
    k = base.flip(-1).permute(0, 3, 1, 2, 4)[:, 1:3]
    v = torch.randn(2, 2, 15, 14, 12, generator=gen)[..., ::2]
    rpb = torch.randn(2, 9, 9, generator=gen).transpose(1, 2)
    assert not any(t.is_contiguous() for t in (q, k, v, rpb))
    check_backend(backend, _attention(5, 2), (q, k, v, rpb), NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_fp64_runs_in_fp64(backend):
    inputs = na_inputs(1, 1, 9, 9, 3, 3, torch.float64)
    out = check_backend(backend, _attention(3, 2), inputs, NAMES)[0]
    assert out.dtype == torch.float64


GRADCHECK_WINDOWS = [(3, 1), (3, (2, 2)), ((5, 3), (1, 2))]


def _forced(backend, fn):
    def run(*args):
        with use_backend(backend):
            return fn(*args)
    return run


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('kernel,dilation', GRADCHECK_WINDOWS)
def test_gradcheck_qk(kernel, dilation, backend):
    q, k, _, rpb = leaves(na_inputs(1, 2, 7, 8, 2, kernel, torch.float64,
                                    seed=11), device=device_of(backend))
    fn = _forced(backend, lambda q, k, rpb: na2d_qk(q, k, kernel, dilation,
                                                    rpb=rpb))
    assert torch.autograd.gradcheck(fn, (q, k, rpb), fast_mode=True)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('kernel,dilation', GRADCHECK_WINDOWS)
def test_gradcheck_av(kernel, dilation, backend):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    gen = gen_for(13)
    attn, v = leaves([randn(1, 2, 7, 8, kh * kw, gen=gen, dtype=torch.float64),
                      randn(1, 2, 7, 8, 2, gen=gen, dtype=torch.float64)],
                     device=device_of(backend))
    fn = _forced(backend, lambda attn, v: na2d_av(attn, v, kernel, dilation))
    assert torch.autograd.gradcheck(fn, (attn, v), fast_mode=True)
