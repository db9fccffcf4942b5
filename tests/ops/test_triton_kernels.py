"""Triton kernels against the PyTorch references: outputs and gradients.

Selective scan (h; du, ddelta, dA, dB, ddelta_bias), ``na2d_av`` (out;
dattn, dvalue) and the fused A2SSM aggregation (out; dattn_local,
dattn_dilated, dstates). Reference gradients come from autograd on the
references. Per-dtype tolerances; kernel 1..13, dilation 1..3, lengths not
divisible by the dilation, non-contiguous inputs and gradients, batch of
one, N = 1 to 3, padded aggregation maps, several channel blocks. The scan
runs with short chunks (8 to 128 steps), so that a few programs cover
several chunks and their carries; one test checks it bit for bit
deterministic.

Without a CUDA GPU the kernels run in the Triton interpreter on CPU tensors
(``conftest.py`` sets ``TRITON_INTERPRET=1``); it costs ~0.1 ms per
operation and per scanned element, so the shapes stay tiny.
"""
import pytest
import torch

from mmmamba.ops.kernels import triton as kernels
from mmmamba.ops.kernels.triton import common
from mmmamba.ops.neighborhood.aggregate import a2ssm_aggregate_reference
from mmmamba.ops.neighborhood.reference import na2d_av_reference
from mmmamba.ops.selective_scan.reference import \
    selective_scan_states_reference

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
# relative tolerance; the absolute one is RTOL / 10 of the largest |value|
RTOL = {
    torch.float64: 1e-10,
    torch.float32: 1e-4,
    torch.float16: 1e-2,
    torch.bfloat16: 3e-2,
}


def _assert_close(got, want, name, precision=None):
    """Same shape and dtype, values close at ``precision``'s tolerance
    (default: the dtype's own)."""
    assert got.shape == want.shape, name
    assert got.dtype == want.dtype, name
    rtol = RTOL[precision or want.dtype]
    scale = want.abs().max().item() if want.numel() else 0.0
    torch.testing.assert_close(got.double(), want.double(), rtol=rtol,
                               atol=rtol * scale / 10, msg=name)


def _randn(*shape, gen, dtype, order=None):
    """A float64 normal sample cast to ``dtype``; with ``order`` (a
    permutation of the dims) a non-contiguous view with that memory order."""
    if order is None:
        return torch.randn(*shape, generator=gen,
                           dtype=torch.float64).to(dtype).to(DEVICE)
    stored = [shape[d] for d in order]
    inverse = [order.index(d) for d in range(len(shape))]
    sample = torch.randn(*stored, generator=gen, dtype=torch.float64)
    return sample.to(dtype).to(DEVICE).permute(*inverse)


def _reference_grads(fn, inputs, grad):
    """Output and input gradients of ``fn`` by autograd (None stays None)."""
    leaves = [None if t is None else t.detach().requires_grad_()
              for t in inputs]
    out = fn(*leaves)
    present = [t for t in leaves if t is not None]
    grads = iter(torch.autograd.grad(out, present, grad, allow_unused=True,
                                     materialize_grads=True))
    return out, [None if t is None else next(grads) for t in leaves]


# ------------------------------------------------------------- launch


class _OnDevice(torch.Tensor):
    """A CPU tensor that reports ``device`` (to see launch's guard)."""
    where = torch.device('cpu')

    @property
    def device(self):
        return self.where


@pytest.mark.parametrize('device', ['cuda:1', 'cpu'])
def test_launch_runs_under_the_first_tensors_device(monkeypatch, device):
    """Every Triton launch goes through ``common.launch``: the kernel runs
    inside ``torch.cuda.device(<the first tensor's device>)`` for a CUDA
    tensor, with no guard for a CPU one."""
    events = []

    class Guard:
        def __init__(self, where):
            self.where = where

        def __enter__(self):
            events.append(('enter', self.where))

        def __exit__(self, *exc):
            events.append(('exit', self.where))

    class Kernel:
        def __getitem__(self, grid):
            return lambda *args, **meta: events.append(('run', grid, meta))

    monkeypatch.setattr(common.torch.cuda, 'device', Guard)
    tensor = torch.zeros(2).as_subclass(_OnDevice)
    tensor.where = torch.device(device)
    common.launch(Kernel(), (3, ), 7, tensor, torch.zeros(1), BLOCK=4)
    run = ('run', (3, ), dict(BLOCK=4))
    if device == 'cpu':
        assert events == [run]
    else:
        assert events == [('enter', tensor.where), run,
                          ('exit', tensor.where)]


# --------------------------------------------------------------- scan


def _scan_inputs(batch, channels, state, length, dtype=torch.float32,
                 seed=0, strided=False, group_dim=False):
    gen = torch.Generator().manual_seed(seed)
    order = (0, 2, 1) if strided else None  # batch, L, D in memory
    u = _randn(batch, channels, length, gen=gen, dtype=dtype, order=order)
    delta = _randn(batch, channels, length, gen=gen, dtype=dtype,
                   order=order) * 0.5 - 1
    A = (-torch.rand(channels, state, generator=gen, dtype=torch.float64) *
         2 - 0.1).to(dtype).to(DEVICE)
    B = _randn(batch, 1, state, length, gen=gen, dtype=dtype,
               order=(0, 1, 3, 2) if strided else None)
    B = B if group_dim else B[:, 0]
    bias = (_randn(channels, gen=gen, dtype=dtype) * 0.5)
    return u, delta, A, B, bias


def _scan_grad(u, A, seed):
    """A non-contiguous dL/dh in the states' dtype."""
    batch, channels, length = u.shape
    gen = torch.Generator().manual_seed(seed)
    return _randn(batch, channels, A.shape[1], length, gen=gen,
                  dtype=torch.float64 if torch.float64 in (u.dtype, A.dtype)
                  else torch.float32, order=(3, 0, 1, 2))


def _run_scan(inputs, grad, softplus, chunk):
    """The Triton forward and backward: ``[h, du, ddelta, dA, dB, dbias]``."""
    h = kernels.selective_scan_forward(*inputs, softplus, chunk=chunk)
    return [h] + list(kernels.selective_scan_backward(grad, *inputs, softplus,
                                                      h, chunk=chunk))


def _reference_scan(inputs, grad, softplus):
    """The same from autograd on the reference."""
    def reference(u, delta, A, B, bias):
        return selective_scan_states_reference(u, delta, A, B, bias,
                                               softplus)

    h, grads = _reference_grads(reference, inputs, grad)
    return [h.detach()] + grads


SCAN_RESULTS = ('h', 'du', 'ddelta', 'dA', 'dB', 'ddelta_bias')


def _check_scan(u, delta, A, B, bias, softplus=True, chunk=8, seed=1):
    """Forward and backward kernels against the reference's autograd."""
    inputs = (u, delta, A, B, bias)
    grad = _scan_grad(u, A, seed)
    got = _run_scan(inputs, grad, softplus, chunk)
    assert got[0].is_contiguous()
    for name, g, w in zip(SCAN_RESULTS, got,
                          _reference_scan(inputs, grad, softplus)):
        if w is None:
            assert g is None, name
        else:
            _assert_close(g, w, name)


@pytest.mark.parametrize('batch,channels,state,length,chunk', [
    (2, 3, 1, 1, 8),  # one step
    (1, 3, 1, 37, 8),  # odd length: 5 chunks, the last one of 5 steps
    (1, 3, 3, 29, 16),  # N = 3
    (1, 6, 2, 12, 8),  # two channel blocks (dB summed over them)
    (2, 3, 2, 70, 256),  # one chunk (of 128 steps): no carry pass
])
def test_scan_fp32(batch, channels, state, length, chunk):
    _check_scan(*_scan_inputs(batch, channels, state, length,
                              seed=length + state), chunk=chunk)


@pytest.mark.parametrize('with_bias,softplus,group_dim', [
    (False, False, False),
    (True, False, True),
    (False, True, True),
    (True, True, False),
])
def test_scan_options_strided(with_bias, softplus, group_dim):
    u, delta, A, B, bias = _scan_inputs(2, 3, 2, 13, seed=7, strided=True,
                                        group_dim=group_dim)
    assert not any(t.is_contiguous() for t in (u, delta, B))
    if not softplus:
        delta = delta.abs()  # a positive step without the softplus
    _check_scan(u, delta, A, B, bias if with_bias else None, softplus)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16,
                                   torch.float64])
def test_scan_dtypes(dtype):
    """fp16 / bf16 computed in fp32, fp64 in fp64 (1e-10), two chunks."""
    _check_scan(*_scan_inputs(2, 3, 2, 30, dtype=dtype, seed=11), chunk=16)


def test_scan_carries_slowly_decaying_states():
    """A ≈ -1e-3 and Δ ≈ 2e-3: a state keeps nearly all of its past over
    300 steps, so the states and adjoints carried across the 9 chunk
    boundaries make up most of every result. fp32 kernels against the
    reference in float64."""
    u, delta, A, B, bias = _scan_inputs(1, 2, 1, 300, seed=17)
    inputs = (u, delta * 0.1 - 6, A * 1e-3, B, bias)  # Δ ≈ softplus(-6)
    grad = _scan_grad(u, A, seed=5)
    want = _reference_scan([t.double() for t in inputs], grad.double(), True)
    got = _run_scan(inputs, grad, True, chunk=32)
    for name, g, w in zip(SCAN_RESULTS, got, want):
        _assert_close(g.double(), w, name, precision=torch.float32)


def test_scan_long_sequence_and_large_softplus_inputs():
    u, delta, A, B, bias = _scan_inputs(1, 2, 1, 520, seed=13)
    delta[0, 0, ::7] += 30  # beyond the softplus threshold: decays ~e^-60
    _check_scan(u, delta, A, B, bias, chunk=128)


def test_scan_is_deterministic():
    """Two runs give the same bits (no atomics: partial sums per program
    and channel block, added in a fixed order)."""
    inputs = _scan_inputs(1, 5, 2, 16, seed=19)  # 2 channel blocks, 2 chunks
    grad = _scan_grad(inputs[0], inputs[2], seed=3)
    first, second = (_run_scan(inputs, grad, True, 8) for _ in range(2))
    for got, want in zip(first, second):
        assert torch.equal(got, want)


@pytest.mark.parametrize('chunk', [0, 3, 12, 8.0])
def test_scan_chunk_must_be_a_power_of_two(chunk):
    u, delta, A, B, bias = _scan_inputs(1, 2, 1, 8)
    with pytest.raises(ValueError, match='power of two'):
        kernels.selective_scan_forward(u, delta, A, B, bias, True,
                                       chunk=chunk)


# --------------------------------------------------------- neighborhood


def _av_inputs(batch, heads, height, width, dim, kernel, dtype, seed):
    """attn, value and a gradient of out, all non-contiguous."""
    gen = torch.Generator().manual_seed(seed)
    neighbours = kernel[0] * kernel[1]
    attn = _randn(batch, heads, height, width, neighbours, gen=gen,
                  dtype=dtype, order=(0, 2, 3, 1, 4))
    value = _randn(batch, heads, height, width, dim, gen=gen, dtype=dtype,
                   order=(0, 2, 1, 4, 3))
    grad = _randn(batch, heads, height, width, dim, gen=gen, dtype=dtype,
                  order=(1, 0, 2, 3, 4))
    return attn, value, grad


def _check_av(attn, value, grad, kernel, dilation):
    def reference(attn, value):
        return na2d_av_reference(attn, value, kernel, dilation)

    want_out, (want_dattn, want_dvalue) = _reference_grads(
        reference, (attn, value), grad)
    _assert_close(kernels.na2d_av_forward(attn, value, kernel, dilation),
                  want_out.detach(), 'out')
    dattn, dvalue = kernels.na2d_av_backward(grad, attn, value, kernel,
                                             dilation)
    _assert_close(dattn, want_dattn, 'dattn')
    _assert_close(dvalue, want_dvalue, 'dvalue')


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


# ----------------------------------------------------------- aggregate


def _check_aggregate(batch, half, dim, size, padded, kernel, dilation,
                     attn_dtype=torch.float32, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    heads = 2 * half
    attn_shape = (batch, half, *padded, kernel * kernel)
    attn_local = _randn(*attn_shape, gen=gen, dtype=attn_dtype)
    attn_dilated = _randn(*attn_shape, gen=gen, dtype=attn_dtype,
                          order=(0, 2, 3, 1, 4))
    # states and grad: B × G × d × H × W, stored B, H, W, G, d
    states = _randn(batch, heads, dim, *size, gen=gen, dtype=dtype,
                    order=(0, 3, 4, 1, 2))
    grad = _randn(batch, heads, dim, *size, gen=gen, dtype=dtype,
                  order=(0, 1, 3, 4, 2))

    def reference(attn_local, attn_dilated, states):
        return a2ssm_aggregate_reference(attn_local, attn_dilated, states,
                                         kernel, dilation)

    want_out, want = _reference_grads(
        reference, (attn_local, attn_dilated, states), grad)
    inputs = (attn_local, attn_dilated, states, kernel, dilation)
    _assert_close(kernels.a2ssm_aggregate_forward(*inputs),
                  want_out.detach(), 'out')
    got = kernels.a2ssm_aggregate_backward(grad, *inputs)
    # the reference casts attn to states' dtype: that dtype's precision
    for name, g, w in zip(('dattn_local', 'dattn_dilated', 'dstates'), got,
                          want):
        _assert_close(g, w, name, precision=dtype)


@pytest.mark.parametrize('batch,size,padded,kernel,dilation', [
    (2, (7, 6), (8, 9), 3, 2),  # padded map
    (1, (10, 14), (12, 15), 5, (2, 3)),  # padded, tuple dilation
    (1, (9, 9), (9, 9), 3, 3),  # no padding
    (2, (6, 7), (7, 7), 7, 1),  # dilated half with dilation 1
])
def test_aggregate_fp32(batch, size, padded, kernel, dilation):
    _check_aggregate(batch, 2, 3, size, padded, kernel, dilation,
                     seed=size[0])


@pytest.mark.parametrize('attn_dtype,dtype', [
    (torch.bfloat16, torch.bfloat16),
    (torch.float32, torch.float16),  # attention maps in another dtype
    (torch.float64, torch.float64),
])
def test_aggregate_dtypes(attn_dtype, dtype):
    _check_aggregate(1, 1, 4, (7, 8), (8, 8), 3, 2, attn_dtype, dtype,
                     seed=5)
