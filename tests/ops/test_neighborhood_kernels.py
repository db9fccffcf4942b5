"""C++ CPU neighborhood-attention kernels against the reference.

Outputs and every gradient (dq, dk, drpb; dattn, dv), float32 / float16 /
bfloat16 tolerances, gradcheck in float64, the A2Mamba-T stage shapes at
224², dilation up to the kernel size, lengths not divisible by the
dilation, tuple windows, non-contiguous inputs, batch of one.
"""
import pytest
import torch

from mmmamba.ops import na2d_av, na2d_qk, use_backend

from stage_shapes import neighborhood_cases

# No skip when the extension is missing: CI builds it (tools/setup_env.sh),
# and use_backend('cpu') then fails with the command that builds it.

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
TOL = {
    torch.float32: dict(rtol=1e-4, atol=1e-4),
    torch.float16: dict(rtol=1e-2, atol=1e-2),
    torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
}


def _inputs(batch, heads, height, width, dim, kernel, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    shape = (batch, heads, height, width, dim)
    q, k, v = (torch.randn(*shape, generator=gen) for _ in range(3))
    rpb = torch.randn(heads, 2 * kh - 1, 2 * kw - 1, generator=gen)
    return [t.to(dtype).requires_grad_() for t in (q, k, v, rpb)]


def _attention(backend, q, k, v, rpb, kernel, dilation):
    """qk (+rpb) → softmax → av and all gradients, on one backend."""
    with use_backend(backend):
        logits = na2d_qk(q, k, kernel, dilation, rpb=rpb)
        attn = logits.float().softmax(-1).to(v.dtype)
        out = na2d_av(attn, v, kernel, dilation)
    weight = torch.linspace(-1, 1, out.numel()).view(out.shape)
    loss = (out.float() * weight).sum() + (logits.float() * 0.1).sum()
    grads = torch.autograd.grad(loss, (q, k, v, rpb))
    return (logits, out) + grads


@pytest.mark.parametrize('case', CASES, ids=str)
def test_matches_reference_fp32(case):
    *shape, kernel, dilation = case
    inputs = _inputs(*shape, kernel, torch.float32, seed=len(str(case)))
    want = _attention('reference', *inputs, kernel, dilation)
    got = _attention('cpu', *inputs, kernel, dilation)
    names = ('logits', 'out', 'dq', 'dk', 'dv', 'drpb')
    for name, g, w in zip(names, got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        torch.testing.assert_close(g, w, **TOL[torch.float32], msg=name)


@pytest.mark.parametrize('case', neighborhood_cases(), ids=str)
def test_stage_shapes_of_every_arch(case):
    """(size, head_dim, kernel, dilation) of every arch at 224² and 512²;
    one head (the window math does not depend on the head count)."""
    size, dim, kernel, dilation = case
    inputs = _inputs(1, 1, size, size, dim, kernel, torch.float32, seed=size)
    want = _attention('reference', *inputs, kernel, dilation)
    got = _attention('cpu', *inputs, kernel, dilation)
    for name, g, w in zip(('logits', 'out', 'dq', 'dk', 'dv', 'drpb'), got,
                          want):
        torch.testing.assert_close(g, w, **TOL[torch.float32], msg=name)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_matches_reference(dtype):
    inputs = _inputs(2, 2, 19, 21, 8, 5, dtype, seed=3)
    want = _attention('reference', *inputs, 5, (3, 2))
    got = _attention('cpu', *inputs, 5, (3, 2))
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g.float(), w.float(), **TOL[dtype])


def test_av_gradients_of_raw_attn():
    """dattn against the reference without a softmax in between."""
    gen = torch.Generator().manual_seed(5)
    attn = torch.randn(1, 2, 13, 16, 9, generator=gen, requires_grad=True)
    v = torch.randn(1, 2, 13, 16, 5, generator=gen, requires_grad=True)
    grad = torch.randn(1, 2, 13, 16, 5, generator=gen)
    results = []
    for backend in ('reference', 'cpu'):
        with use_backend(backend):
            out = na2d_av(attn, v, 3, (4, 5))
        results.append((out, ) + torch.autograd.grad(out, (attn, v), grad))
    for g, w in zip(*results):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


def test_non_contiguous_inputs():
    gen = torch.Generator().manual_seed(7)
    # B, H, W, heads, d storage, permuted to B, heads, H, W, d; and a slice
    base = torch.randn(2, 15, 14, 4, 6, generator=gen)
    q = base.permute(0, 3, 1, 2, 4)[:, :2]
    k = base.flip(-1).permute(0, 3, 1, 2, 4)[:, 1:3]
    v = torch.randn(2, 2, 15, 14, 12, generator=gen)[..., ::2]
    rpb = torch.randn(2, 9, 9, generator=gen).transpose(1, 2)
    assert not any(t.is_contiguous() for t in (q, k, v, rpb))
    results = []
    for backend in ('reference', 'cpu'):
        with use_backend(backend):
            attn = na2d_qk(q, k, 5, 2, rpb=rpb).softmax(-1)
            results.append(na2d_av(attn, v, 5, 2))
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-5)


def test_fp64_runs_in_fp64():
    q, k, v, rpb = _inputs(1, 1, 9, 9, 3, 3, torch.float64)
    with use_backend('cpu'):
        logits = na2d_qk(q, k, 3, 2, rpb=rpb)
    assert logits.dtype == torch.float64
    with use_backend('reference'):
        want = na2d_qk(q, k, 3, 2, rpb=rpb)
    torch.testing.assert_close(logits, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('kernel,dilation', [(3, 1), (3, (2, 2)),
                                             ((5, 3), (1, 2))])
def test_gradcheck_qk(kernel, dilation):
    q, k, _, rpb = _inputs(1, 2, 7, 8, 2, kernel, torch.float64, seed=11)

    def fn(q, k, rpb):
        with use_backend('cpu'):
            return na2d_qk(q, k, kernel, dilation, rpb=rpb)

    assert torch.autograd.gradcheck(fn, (q, k, rpb), fast_mode=True)


@pytest.mark.parametrize('kernel,dilation', [(3, 1), (3, (2, 2)),
                                             ((5, 3), (1, 2))])
def test_gradcheck_av(kernel, dilation):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    gen = torch.Generator().manual_seed(13)
    attn = torch.randn(1, 2, 7, 8, kh * kw, generator=gen,
                       dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, 2, 7, 8, 2, generator=gen, dtype=torch.float64,
                    requires_grad=True)

    def fn(attn, v):
        with use_backend('cpu'):
            return na2d_av(attn, v, kernel, dilation)

    assert torch.autograd.gradcheck(fn, (attn, v), fast_mode=True)


def test_kernel_path_raises_the_reference_errors():
    q = torch.randn(1, 1, 10, 10, 2)
    with use_backend('cpu'):
        with pytest.raises(ValueError, match='kernel_size \\* dilation'):
            na2d_qk(q, q, 5, 3)
        with pytest.raises(ValueError, match='odd'):
            na2d_av(torch.randn(1, 1, 10, 10, 16), q, 4)
