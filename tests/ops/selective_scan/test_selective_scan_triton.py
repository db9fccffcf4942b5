"""The Triton selective-scan kernels, called directly, against the
reference's autograd: h, du, ddelta, dA, dB, ddelta_bias for N = 1 to 3,
non-contiguous inputs and output gradients, with / without bias and
softplus, fp16 / bf16 / fp64. The scan runs with short chunks (8 to 128
steps), so that a few programs cover several chunks and their carries; one
test checks it bit for bit deterministic.

Without a CUDA GPU the kernels run in the Triton interpreter on CPU tensors
(tests/conftest.py sets ``TRITON_INTERPRET=1``), which costs ~0.1 ms per
operation and per scanned element: the shapes stay tiny.
"""
import pytest
import torch
from op_testing import (assert_close, device_of, gen_for, randn,
                        reference_grads, scan_inputs)

from mmmamba.ops.selective_scan.reference import \
    selective_scan_states_reference
from mmmamba.ops.selective_scan.triton import (
    selective_scan_states_backward, selective_scan_states_forward)

DEVICE = device_of('triton')
NAMES = ('h', 'du', 'ddelta', 'dA', 'dB', 'ddelta_bias')


def _inputs(*shape, **kwargs):
    return scan_inputs(*shape, device=DEVICE, **kwargs)


def _grad(u, A, seed):
    """A non-contiguous dL/dh in the states' dtype."""
    batch, channels, length = u.shape
    wide = torch.float64 in (u.dtype, A.dtype)
    return randn(batch, channels, A.shape[1], length, gen=gen_for(seed),
                 dtype=torch.float64 if wide else torch.float32,
                 order=(3, 0, 1, 2), device=DEVICE)


def _run(inputs, grad, softplus, chunk):
    """The Triton forward and backward: ``[h, du, ddelta, dA, dB, dbias]``."""
    h = selective_scan_states_forward(*inputs, softplus, chunk=chunk)
    return [h] + list(selective_scan_states_backward(grad, *inputs, softplus,
                                                     h, chunk=chunk))


def _reference(inputs, grad, softplus):
    """The same from autograd on the reference."""
    h, grads = reference_grads(
        lambda u, delta, A, B, bias: selective_scan_states_reference(
            u, delta, A, B, bias, softplus), inputs, grad)
    return [h] + grads


def _check(u, delta, A, B, bias, softplus=True, chunk=8, seed=1):
    """Forward and backward kernels against the reference's autograd."""
    inputs = (u, delta, A, B, bias)
    grad = _grad(u, A, seed)
    got = _run(inputs, grad, softplus, chunk)
    assert got[0].is_contiguous()
    for name, g, w in zip(NAMES, got, _reference(inputs, grad, softplus)):
        if w is None:
            assert g is None, name
        else:
            assert_close(g, w, name)


@pytest.mark.parametrize('batch,channels,state,length,chunk', [
    (2, 3, 1, 1, 8),  # one step
    (1, 3, 1, 37, 8),  # odd length: 5 chunks, the last one of 5 steps
    (1, 3, 3, 29, 16),  # N = 3
    (1, 6, 2, 12, 8),  # two channel blocks (dB summed over them)
    (2, 3, 2, 70, 256),  # one chunk (of 128 steps): no carry pass
])
def test_scan_fp32(batch, channels, state, length, chunk):
    _check(*_inputs(batch, channels, state, length, seed=length + state),
           chunk=chunk)


@pytest.mark.parametrize('with_bias,softplus,group_dim', [
    (False, False, False),
    (True, False, True),
    (False, True, True),
    (True, True, False),
])
def test_scan_options_strided(with_bias, softplus, group_dim):
    u, delta, A, B, bias = _inputs(2, 3, 2, 13, seed=7, strided=True,
                                   group_dim=group_dim)
    assert not any(t.is_contiguous() for t in (u, delta, B))
    if not softplus:
        delta = delta.abs()  # a positive step without the softplus
    _check(u, delta, A, B, bias if with_bias else None, softplus)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16,
                                   torch.float64])
def test_scan_dtypes(dtype):
    """fp16 / bf16 computed in fp32, fp64 in fp64 (1e-10), two chunks."""
    _check(*_inputs(2, 3, 2, 30, dtype=dtype, seed=11), chunk=16)


def test_scan_carries_slowly_decaying_states():
    """A ≈ -1e-3 and Δ ≈ 2e-3: a state keeps nearly all of its past over
    300 steps, so the states and adjoints carried across the 9 chunk
    boundaries make up most of every result. fp32 kernels against the
    reference in float64."""
    u, delta, A, B, bias = _inputs(1, 2, 1, 300, seed=17)
    inputs = (u, delta * 0.1 - 6, A * 1e-3, B, bias)  # Δ ≈ softplus(-6)
    grad = _grad(u, A, seed=5)
    want = _reference([t.double() for t in inputs], grad.double(), True)
    got = _run(inputs, grad, True, chunk=32)
    for name, g, w in zip(NAMES, got, want):
        assert_close(g.double(), w, name, precision=torch.float32)


def test_scan_long_sequence_and_large_softplus_inputs():
    u, delta, A, B, bias = _inputs(1, 2, 1, 520, seed=13)
    delta[0, 0, ::7] += 30  # beyond the softplus threshold: decays ~e^-60
    _check(u, delta, A, B, bias, chunk=128)


def test_scan_is_deterministic():
    """Two runs give the same bits (no atomics: partial sums per program
    and channel block, added in a fixed order)."""
    inputs = _inputs(1, 5, 2, 16, seed=19)  # 2 channel blocks, 2 chunks
    grad = _grad(inputs[0], inputs[2], seed=3)
    first, second = (_run(inputs, grad, True, 8) for _ in range(2))
    for got, want in zip(first, second):
        assert torch.equal(got, want)


@pytest.mark.parametrize('chunk', [0, 3, 12, 8.0])
def test_scan_chunk_must_be_a_power_of_two(chunk):
    u, delta, A, B, bias = _inputs(1, 2, 1, 8)
    with pytest.raises(ValueError, match='power of two'):
        selective_scan_states_forward(u, delta, A, B, bias, True,
                                      chunk=chunk)
