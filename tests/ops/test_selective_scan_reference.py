"""The chunked selective-scan reference against a float64 sequential loop."""
import pytest
import torch
import torch.nn.functional as F

import mmmamba.ops.selective_scan.reference as sref
from mmmamba.ops import selective_scan_states, selective_scan_states_reference


def brute_scan(u, delta, A, B, delta_bias=None, delta_softplus=True):
    """h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t, one step at a time, float64."""
    u, delta, A, B = (t.double() for t in (u, delta, A, B))
    if B.dim() == 4:
        B = B[:, 0]
    if delta_bias is not None:
        delta = delta + delta_bias.double()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, channels, length = u.shape
    h = torch.zeros(batch, channels, A.shape[1], dtype=torch.float64)
    states = []
    for t in range(length):
        dt = delta[:, :, t, None]  # batch, D, 1
        h = torch.exp(dt * A) * h + dt * B[:, None, :, t] * u[:, :, t, None]
        states.append(h)
    return torch.stack(states, dim=-1)  # batch, D, N, L


def _inputs(batch, channels, state, length, dtype=torch.float32, seed=0,
            group_dim=False):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    u = rand(batch, channels, length)
    delta = rand(batch, channels, length) * 0.5 - 1
    A = -torch.rand(channels, state, generator=gen,
                    dtype=torch.float64) * 2 - 0.1
    B = rand(batch, 1, state, length) if group_dim else rand(
        batch, state, length)
    bias = rand(channels) * 0.5
    return tuple(t.to(dtype) for t in (u, delta, A, B, bias))


@pytest.mark.parametrize('length', [1, 7, 31, 32, 33, 100, 1100])
@pytest.mark.parametrize('state', [1, 2, 4])
def test_matches_sequential_loop(length, state):
    u, delta, A, B, bias = _inputs(2, 3, state, length, seed=length + state)
    h = selective_scan_states(u, delta, A, B, bias)
    assert h.shape == (2, 3, state, length) and h.dtype == torch.float32
    assert h.is_contiguous()
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('group_dim', [False, True])
@pytest.mark.parametrize('softplus', [False, True])
@pytest.mark.parametrize('with_bias', [False, True])
def test_options(group_dim, softplus, with_bias):
    u, delta, A, B, bias = _inputs(2, 4, 2, 77, seed=3, group_dim=group_dim)
    if not softplus:
        delta = delta.abs() * 0.3  # a plausible step size without softplus
    bias = bias.abs() if with_bias else None
    h = selective_scan_states(u, delta, A, B, bias, delta_softplus=softplus)
    torch.testing.assert_close(
        h.double(), brute_scan(u, delta, A, B, bias, softplus),
        rtol=1e-5, atol=1e-5)


def test_softplus_is_torch_default():
    # delta from -5 to 30: exercises softplus below and above threshold 20
    u, _, A, B, bias = _inputs(1, 3, 1, 50, torch.float64, seed=6)
    delta = torch.linspace(-5, 30, 150, dtype=torch.float64).view(1, 3, 50)
    A = A * 0.01  # keep the states away from 0 despite the large steps
    h = selective_scan_states(u, delta, A, B, bias)
    torch.testing.assert_close(h, brute_scan(u, delta, A, B, bias))


@pytest.mark.parametrize('chunk', [2, 3, 5])
def test_deep_recursion(monkeypatch, chunk):
    """Small chunks: several levels of chunk carries, all padded."""
    monkeypatch.setattr(sref, '_CHUNK', chunk)
    u, delta, A, B, bias = _inputs(1, 2, 3, 97, torch.float64, seed=chunk)
    h = selective_scan_states_reference(u, delta, A, B, bias)
    torch.testing.assert_close(h, brute_scan(u, delta, A, B, bias))


@pytest.mark.parametrize('chunk', [2, 3, 4, 32])
def test_linear_scan_levels(chunk):
    gen = torch.Generator().manual_seed(chunk)
    log_a = -torch.rand(3, 200, generator=gen, dtype=torch.float64)
    x = torch.randn(3, 200, generator=gen, dtype=torch.float64)
    h, expected = torch.zeros(3, dtype=torch.float64), []
    for t in range(200):
        h = log_a[:, t].exp() * h + x[:, t]
        expected.append(h)
    torch.testing.assert_close(sref.linear_scan(log_a, x, chunk),
                               torch.stack(expected, -1))


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 1e-4),
                                       (torch.bfloat16, 1e-4),
                                       (torch.float64, 1e-10)])
def test_input_dtypes(dtype, tol):
    u, delta, A, B, bias = _inputs(2, 3, 2, 150, dtype, seed=9)
    h = selective_scan_states(u, delta, A, B, bias)
    assert h.dtype == (torch.float64 if dtype == torch.float64 else
                       torch.float32)
    # the inputs are rounded to dtype, the math runs in fp32 (fp64)
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=tol, atol=tol)


def test_mixed_dtypes_compute_in_fp32():
    u, delta, A, B, bias = _inputs(1, 3, 1, 40, seed=2)
    h = selective_scan_states(u.half(), delta.bfloat16(), A, B.half(), bias)
    assert h.dtype == torch.float32
    expected = brute_scan(u.half(), delta.bfloat16(), A, B.half(), bias)
    torch.testing.assert_close(h.double(), expected, rtol=1e-5, atol=1e-5)


def test_large_decay_stays_finite():
    u, delta, A, B, bias = _inputs(2, 3, 2, 300, seed=4)
    delta = delta.clone()
    delta[:, :, ::7] = 1e4  # softplus(1e4) = 1e4: exp(-1e4 * |A|) == 0
    A = A * 100
    u.requires_grad_()
    delta.requires_grad_()
    h = selective_scan_states(u, delta, A, B, bias)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=1e-5, atol=1e-4)
    h.sum().backward()
    assert torch.isfinite(u.grad).all() and torch.isfinite(delta.grad).all()


def test_positive_A_is_still_correct():
    u, delta, A, B, bias = _inputs(1, 2, 2, 120, torch.float64, seed=5)
    A = A.abs() * 0.05  # growing states; exact as long as they are finite
    h = selective_scan_states(u, delta, A, B, bias)
    torch.testing.assert_close(h, brute_scan(u, delta, A, B, bias))


def test_empty_sequence():
    u, delta, A, B, bias = _inputs(2, 3, 2, 0)
    assert selective_scan_states(u, delta, A, B, bias).shape == (2, 3, 2, 0)


@pytest.mark.parametrize('state', [1, 3])
def test_gradcheck(monkeypatch, state):
    monkeypatch.setattr(sref, '_CHUNK', 4)  # 3 levels over L = 37
    inputs = _inputs(2, 2, state, 37, torch.float64, seed=state)
    inputs = tuple(t.requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(
        lambda u, d, A, B, b: selective_scan_states(u, d, A, B, b), inputs)


def test_gradcheck_group_dim_no_softplus():
    u, delta, A, B, _ = _inputs(1, 2, 2, 20, torch.float64, seed=7,
                                group_dim=True)
    inputs = (u, delta.abs(), A, B)
    inputs = tuple(t.requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(
        lambda u, d, A, B: selective_scan_states(u, d, A, B, None, False),
        inputs)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize('change,match', [
    (dict(u=torch.zeros(2, 3)), r'u must be 3-D \(batch, D, L\), got shape '
     r'\(2, 3\)'),
    (dict(delta=torch.zeros(2, 3, 9)), r'delta must have the shape of u '
     r'\(2, 3, 10\), got \(2, 3, 9\)'),
    (dict(A=torch.zeros(4, 2)), r'A must be 2-D \(D, N\) with D = 3, got '
     r'shape \(4, 2\)'),
    (dict(A=torch.zeros(3)), r'A must be 2-D \(D, N\)'),
    (dict(A=torch.zeros(3, 0)), r'N >= 1'),
    (dict(B=torch.zeros(2, 3, 10)), r'B must be \(batch, N, L\) = '
     r'\(2, 2, 10\) .*got shape \(2, 3, 10\)'),
    (dict(B=torch.zeros(2, 2, 9)), r'got shape \(2, 2, 9\)'),
    (dict(B=torch.zeros(1, 2, 10)), r'got shape \(1, 2, 10\)'),
    (dict(B=torch.zeros(2, 2, 2, 10)), r'a 4-D B must be \(batch, 1, N, L\) '
     r'\(one group\)'),
    (dict(B=torch.zeros(2, 20)), r'B must be \(batch, N, L\) or '
     r'\(batch, 1, N, L\)'),
    (dict(delta_bias=torch.zeros(2)), r'delta_bias must have shape \(D,\) = '
     r'\(3,\), got \(2,\)'),
    (dict(u=torch.zeros(2, 3, 10, dtype=torch.long)),
     'u must be a floating-point tensor'),
    (dict(B=torch.zeros(2, 2, 10, device='meta')),
     'all inputs must be on one device; u is on cpu, B on meta'),
    (dict(A=[[0.0]]), 'A must be a torch.Tensor'),
])
def test_rejects_bad_arguments(change, match):
    args = dict(u=torch.zeros(2, 3, 10), delta=torch.zeros(2, 3, 10),
                A=torch.zeros(3, 2), B=torch.zeros(2, 2, 10),
                delta_bias=torch.zeros(3))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        selective_scan_states(**args)
