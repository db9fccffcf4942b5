"""The chunked selective-scan reference (``selective_scan_states_reference``
and its ``linear_scan``) against the float64 sequential loops of
oracles.py."""
import pytest
import torch
from op_testing import gen_for, scan_inputs
from oracles import brute_scan, sequential_linear_scan

import mmmamba.ops.selective_scan.reference as sref
from mmmamba.ops import selective_scan_states_reference as scan


@pytest.fixture
def chunk_levels(monkeypatch):
    """Set the reference's chunk; returns the list of sequence lengths that
    ``linear_scan`` is called on (one per level of the recursion)."""
    lengths = []
    real = sref.linear_scan

    def counting(log_a, x, chunk=None):
        lengths.append(x.shape[-1])
        return real(log_a, x, chunk)

    monkeypatch.setattr(sref, 'linear_scan', counting)

    def set_chunk(chunk):
        monkeypatch.setattr(sref, '_CHUNK', chunk)
        return lengths

    return set_chunk


@pytest.mark.parametrize('length', [1, 7, 31, 32, 33, 100, 1100])
@pytest.mark.parametrize('state', [1, 2, 4])
def test_matches_sequential_loop(length, state):
    u, delta, A, B, bias = scan_inputs(2, 3, state, length,
                                       seed=length + state)
    h = scan(u, delta, A, B, bias)
    assert h.shape == (2, 3, state, length) and h.dtype == torch.float32
    assert h.is_contiguous()
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('group_dim', [False, True])
@pytest.mark.parametrize('softplus', [False, True])
@pytest.mark.parametrize('with_bias', [False, True])
def test_options(group_dim, softplus, with_bias):
    u, delta, A, B, bias = scan_inputs(2, 4, 2, 77, seed=3,
                                       group_dim=group_dim)
    if not softplus:
        delta = delta.abs() * 0.3  # a plausible step size without softplus
    bias = bias.abs() if with_bias else None
    h = scan(u, delta, A, B, bias, delta_softplus=softplus)
    torch.testing.assert_close(
        h.double(), brute_scan(u, delta, A, B, bias, softplus),
        rtol=1e-5, atol=1e-5)


def test_softplus_is_torch_default():
    # delta from -5 to 30: exercises softplus below and above threshold 20
    u, _, A, B, bias = scan_inputs(1, 3, 1, 50, torch.float64, seed=6)
    delta = torch.linspace(-5, 30, 150, dtype=torch.float64).view(1, 3, 50)
    A = A * 0.01  # keep the states away from 0 despite the large steps
    h = scan(u, delta, A, B, bias)
    torch.testing.assert_close(h, brute_scan(u, delta, A, B, bias))


@pytest.mark.parametrize('chunk,levels', [(2, 7), (3, 5), (5, 3)])
def test_deep_recursion(chunk_levels, chunk, levels):
    """Small chunks: several levels of chunk carries, all padded."""
    lengths = chunk_levels(chunk)
    u, delta, A, B, bias = scan_inputs(1, 2, 3, 97, torch.float64,
                                       seed=chunk)
    h = scan(u, delta, A, B, bias)
    assert len(lengths) == levels and lengths[0] == 97
    torch.testing.assert_close(h, brute_scan(u, delta, A, B, bias))


@pytest.mark.parametrize('chunk', [2, 3, 4, 32])
def test_linear_scan_levels(chunk):
    gen = gen_for(chunk)
    log_a = -torch.rand(3, 200, generator=gen, dtype=torch.float64)
    x = torch.randn(3, 200, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(sref.linear_scan(log_a, x, chunk),
                               sequential_linear_scan(log_a, x))


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 1e-4),
                                       (torch.bfloat16, 1e-4),
                                       (torch.float64, 1e-10)])
def test_input_dtypes(dtype, tol):
    u, delta, A, B, bias = scan_inputs(2, 3, 2, 150, dtype, seed=9)
    h = scan(u, delta, A, B, bias)
    assert h.dtype == (torch.float64 if dtype == torch.float64 else
                       torch.float32)
    # the inputs are rounded to dtype, the math runs in fp32 (fp64)
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=tol, atol=tol)


def test_mixed_dtypes_compute_in_fp32():
    u, delta, A, B, bias = scan_inputs(1, 3, 1, 40, seed=2)
    h = scan(u.half(), delta.bfloat16(), A, B.half(), bias)
    assert h.dtype == torch.float32
    expected = brute_scan(u.half(), delta.bfloat16(), A, B.half(), bias)
    torch.testing.assert_close(h.double(), expected, rtol=1e-5, atol=1e-5)


def test_large_decay_stays_finite():
    u, delta, A, B, bias = scan_inputs(2, 3, 2, 300, seed=4)
    delta = delta.clone()
    delta[:, :, ::7] = 1e4  # softplus(1e4) = 1e4: exp(-1e4 * |A|) == 0
    A = A * 100
    u.requires_grad_()
    delta.requires_grad_()
    h = scan(u, delta, A, B, bias)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=1e-5, atol=1e-4)
    h.sum().backward()
    assert torch.isfinite(u.grad).all() and torch.isfinite(delta.grad).all()


def test_positive_A_is_still_correct():
    u, delta, A, B, bias = scan_inputs(1, 2, 2, 120, torch.float64, seed=5)
    A = A.abs() * 0.05  # growing states; exact as long as they are finite
    h = scan(u, delta, A, B, bias)
    torch.testing.assert_close(h, brute_scan(u, delta, A, B, bias))


def test_empty_sequence():
    u, delta, A, B, bias = scan_inputs(2, 3, 2, 0)
    assert scan(u, delta, A, B, bias).shape == (2, 3, 2, 0)


@pytest.mark.parametrize('state', [1, 3])
def test_gradcheck(chunk_levels, state):
    lengths = chunk_levels(4)
    inputs = scan_inputs(2, 2, state, 37, torch.float64, seed=state)
    inputs = tuple(t.requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(scan, inputs)
    assert lengths[:3] == [37, 10, 3]  # 3 levels over L = 37


def test_gradcheck_group_dim_no_softplus():
    u, delta, A, B, _ = scan_inputs(1, 2, 2, 20, torch.float64, seed=7,
                                    group_dim=True)
    inputs = (u, delta.abs(), A, B)
    inputs = tuple(t.requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(
        lambda u, d, A, B: scan(u, d, A, B, None, False), inputs)
