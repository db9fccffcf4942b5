"""The selective-scan kernels of every backend against the reference and a
float64 loop.

States and every gradient (du, ddelta, dA, dB, ddelta_bias): every kernel
backend in each dtype on one shape, and the softplus of the step computed
inside each kernel; the compiled backends for N = 1..5, B as (batch, N, L)
or (batch, 1, N, L), with / without bias and softplus, float32 / float16 /
bfloat16 inputs, every arch's A2SSM scans, long sequences, gradcheck in
float64.
"""
import pytest
import torch
import torch.nn.functional as F
from op_testing import (COMPILED_BACKENDS, KERNEL_BACKENDS, LOW_PRECISION,
                        assert_close, check_backend, device_of, leaves,
                        outputs_and_grads, scan_inputs, stage_cases)
from oracles import brute_scan

from mmmamba.ops import selective_scan_states, use_backend

NAMES = ('h', 'du', 'ddelta', 'dA', 'dB', 'ddelta_bias')


def _scan(softplus=True):
    def fn(u, delta, A, B, bias):
        return selective_scan_states(u, delta, A, B, bias, softplus)
    return fn


@pytest.mark.parametrize('dtype', [torch.float32, *LOW_PRECISION], ids=str)
@pytest.mark.parametrize('backend', KERNEL_BACKENDS)
def test_every_backend_matches_reference(backend, dtype):
    inputs = scan_inputs(2, 6, 2, 70, dtype, seed=4)
    h = check_backend(backend, _scan(), inputs, NAMES)[0]
    assert h.dtype == torch.float32


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize('backend', KERNEL_BACKENDS)
def test_softplus_runs_inside_the_kernel(monkeypatch, backend, dtype):
    """``delta_softplus=True`` equals the scan of a precomputed
    ``softplus(delta + bias)`` without softplus (states and gradients, also
    of delta and bias through the precomputed step), and the reference; no
    Python softplus runs on the kernel's path."""
    u, delta, A, B, bias = leaves(scan_inputs(2, 3, 2, 40, dtype, seed=8),
                                  device=device_of(backend))
    want = outputs_and_grads('reference', _scan(), (u, delta, A, B, bias))

    def precomputed(u, delta, A, B, bias):
        step = F.softplus(delta + bias[:, None])  # batch, D, L
        return selective_scan_states(u, step, A, B, None, False)

    unfused = outputs_and_grads(backend, precomputed, (u, delta, A, B, bias))

    def no_softplus(*args, **kwargs):
        raise AssertionError('F.softplus called on the kernel path')

    monkeypatch.setattr(F, 'softplus', no_softplus)
    fused = outputs_and_grads(backend, _scan(), (u, delta, A, B, bias))
    for name, f, p, w in zip(NAMES, fused, unfused, want):
        assert_close(f, p, f'{name}: fused vs precomputed softplus')
        assert_close(f, w, f'{name}: fused vs reference')


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('length', [1, 2, 33, 1100])
@pytest.mark.parametrize('state', [1, 2, 5])
def test_matches_reference_fp32(length, state, backend):
    inputs = scan_inputs(2, 3, state, length, seed=length * 7 + state)
    h = check_backend(backend, _scan(), inputs, NAMES)[0]
    torch.testing.assert_close(h.double().cpu(), brute_scan(*inputs),
                               rtol=1e-5, atol=1e-5)


SCAN_SHAPES = sorted({(size * size, channels)
                      for size, channels, *_, a2ssm in stage_cases() if a2ssm})


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('length,channels', SCAN_SHAPES, ids=str)
def test_stage_shapes_of_every_arch(length, channels, backend):
    """A2SSM scans (L = H·W, D = C, N = 1) of every arch, 224² and 512²."""
    inputs = scan_inputs(1, channels, 1, length, seed=channels,
                         group_dim=True)
    check_backend(backend, _scan(), inputs, NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('group_dim', [False, True])
@pytest.mark.parametrize('softplus', [False, True])
@pytest.mark.parametrize('with_bias', [False, True])
def test_options(group_dim, softplus, with_bias, backend):
    u, delta, A, B, bias = scan_inputs(1, 4, 2, 50, seed=3,
                                       group_dim=group_dim)
    if not softplus:
        delta = delta.abs()  # a positive step without the softplus
    check_backend(backend, _scan(softplus),
                  (u, delta, A, B, bias if with_bias else None), NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('dtype', LOW_PRECISION, ids=str)
def test_low_precision_inputs(dtype, backend):
    inputs = scan_inputs(2, 3, 2, 200, dtype=dtype, seed=5)
    h = check_backend(backend, _scan(), inputs, NAMES)[0]
    assert h.dtype == torch.float32


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_long_sequence_and_large_softplus_inputs(backend):
    u, delta, A, B, bias = scan_inputs(1, 2, 1, 20000, seed=9)
    delta[0, 0, ::7] += 30  # beyond the softplus threshold
    check_backend(backend, _scan(), (u, delta, A, B, bias), NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_non_contiguous_inputs(backend):
    u, delta, A, B, bias = scan_inputs(2, 6, 2, 40, seed=2)
    u, delta = u[:, ::2], delta.transpose(1, 2).contiguous().transpose(1, 2)
    delta = delta[:, ::2]
    A, B, bias = A[::2], B.transpose(1, 2).contiguous().transpose(1, 2), \
        bias[::2]
    assert not u.is_contiguous() and not B.is_contiguous()
    check_backend(backend, _scan(), (u, delta, A, B, bias), NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('group_dim', [False, True])
def test_gradcheck(group_dim, backend):
    inputs = tuple(leaves(scan_inputs(1, 2, 3, 9, dtype=torch.float64,
                                      seed=4, group_dim=group_dim),
                          device=device_of(backend)))

    def fn(u, delta, A, B, bias):
        with use_backend(backend):
            return selective_scan_states(u, delta, A, B, bias)

    assert torch.autograd.gradcheck(fn, inputs, fast_mode=True)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_fp64_input_returns_fp64(backend):
    inputs = scan_inputs(1, 2, 1, 10, dtype=torch.float64)
    with use_backend(backend):
        h = selective_scan_states(*leaves(inputs, device=device_of(backend)))
    assert h.dtype == torch.float64
    torch.testing.assert_close(h.cpu(), brute_scan(*inputs), rtol=1e-12,
                               atol=1e-12)
