"""C++ CPU selective-scan kernels against the reference and a float64 loop.

States and every gradient (du, ddelta, dA, dB, ddelta_bias) for N = 1..5,
B as (batch, N, L) or (batch, 1, N, L), with / without bias and softplus,
float32 / float16 / bfloat16 inputs, gradcheck in float64, long sequences.
"""
import pytest
import torch

from mmmamba.ops import selective_scan_states, use_backend

from stage_shapes import stage_shapes
from test_selective_scan_reference import _inputs, brute_scan

# No skip when the extension is missing: CI builds it (tools/setup_env.sh),
# and use_backend('cpu') then fails with the command that builds it.


def _run(backend, u, delta, A, B, bias, softplus=True):
    leaves = [t.detach().requires_grad_() for t in (u, delta, A, B, bias)
              if t is not None]
    u, delta, A, B = leaves[:4]
    bias = leaves[4] if len(leaves) == 5 else None
    with use_backend(backend):
        h = selective_scan_states(u, delta, A, B, bias, softplus)
    weight = torch.linspace(-1, 1, h.numel(), dtype=h.dtype).view(h.shape)
    # the reference leaves dA unused at L = 1 (h_1 has no decay term)
    grads = torch.autograd.grad((h * weight).sum(), leaves,
                                allow_unused=True, materialize_grads=True)
    return (h, ) + grads


@pytest.mark.parametrize('length', [1, 2, 33, 1100])
@pytest.mark.parametrize('state', [1, 2, 5])
def test_matches_reference_fp32(length, state):
    inputs = _inputs(2, 3, state, length, seed=length * 7 + state)
    want = _run('reference', *inputs)
    got = _run('cpu', *inputs)
    names = ('h', 'du', 'ddelta', 'dA', 'dB', 'ddelta_bias')
    for name, g, w in zip(names, got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        torch.testing.assert_close(g, w, rtol=6e-4, atol=2e-3, msg=name)
    torch.testing.assert_close(got[0].double(), brute_scan(*inputs),
                               rtol=1e-5, atol=1e-5)


SCAN_SHAPES = sorted({(size * size, channels)
                      for size, channels, *_, a2ssm in stage_shapes() if a2ssm})


@pytest.mark.parametrize('length,channels', SCAN_SHAPES, ids=str)
def test_stage_shapes_of_every_arch(length, channels):
    """A2SSM scans (L = H·W, D = C, N = 1) of every arch at 224² and 512²."""
    inputs = _inputs(1, channels, 1, length, seed=channels, group_dim=True)
    want = _run('reference', *inputs)
    got = _run('cpu', *inputs)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=6e-4, atol=2e-3)


@pytest.mark.parametrize('group_dim', [False, True])
@pytest.mark.parametrize('softplus', [False, True])
@pytest.mark.parametrize('with_bias', [False, True])
def test_options(group_dim, softplus, with_bias):
    u, delta, A, B, bias = _inputs(1, 4, 2, 50, seed=3, group_dim=group_dim)
    bias = bias if with_bias else None
    if not softplus:
        delta = delta.abs()  # a positive step without the softplus
    want = _run('reference', u, delta, A, B, bias, softplus)
    got = _run('cpu', u, delta, A, B, bias, softplus)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=6e-4, atol=2e-3)


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 5e-3),
                                       (torch.bfloat16, 3e-2)])
def test_low_precision_inputs(dtype, tol):
    inputs = _inputs(2, 3, 2, 200, dtype=dtype, seed=5)
    want = _run('reference', *inputs)
    got = _run('cpu', *inputs)
    assert got[0].dtype == torch.float32
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g.float(), w.float(), rtol=tol, atol=tol)


def test_long_sequence_and_large_softplus_inputs():
    u, delta, A, B, bias = _inputs(1, 2, 1, 20000, seed=9)
    delta[0, 0, ::7] += 30  # beyond the softplus threshold
    want = _run('reference', u, delta, A, B, bias)
    got = _run('cpu', u, delta, A, B, bias)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-3, atol=1e-3)


def test_non_contiguous_inputs():
    u, delta, A, B, bias = _inputs(2, 6, 2, 40, seed=2)
    u, delta = u[:, ::2], delta.transpose(1, 2).contiguous().transpose(1, 2)
    delta = delta[:, ::2]
    A, B, bias = A[::2], B.transpose(1, 2).contiguous().transpose(1, 2), bias[::2]
    assert not u.is_contiguous() and not B.is_contiguous()
    want = _run('reference', u, delta, A, B, bias)
    got = _run('cpu', u, delta, A, B, bias)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=6e-4, atol=2e-3)


@pytest.mark.parametrize('group_dim', [False, True])
def test_gradcheck(group_dim):
    u, delta, A, B, bias = (t.requires_grad_() for t in _inputs(
        1, 2, 3, 9, dtype=torch.float64, seed=4, group_dim=group_dim))

    def fn(u, delta, A, B, bias):
        with use_backend('cpu'):
            return selective_scan_states(u, delta, A, B, bias)

    assert torch.autograd.gradcheck(fn, (u, delta, A, B, bias), fast_mode=True)


def test_fp64_input_returns_fp64():
    inputs = _inputs(1, 2, 1, 10, dtype=torch.float64)
    with use_backend('cpu'):
        h = selective_scan_states(*inputs)
    assert h.dtype == torch.float64
    torch.testing.assert_close(h, brute_scan(*inputs), rtol=1e-12,
                               atol=1e-12)
