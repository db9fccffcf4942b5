"""The CUDA kernels, run on the CPU by the ``cuda_host`` backend, against
the reference: every op, forward and every gradient.

``mmmamba._C_cuda_host`` is ``csrc/**/*.cu`` compiled by the host compiler
over the CUDA emulation (real threads and barriers per block, shared memory,
warp shuffles), launched by the same launchers as on a GPU. Inputs are given
in their dtype (fp16 / bf16 tensors reach the kernels as such); the
reference runs the same values in float64, the oracle for every dtype.
"""
import pytest
import torch

from mmmamba.ops import (a2ssm_aggregate, depthwise_conv2d, explain_backend,
                         na2d_av, na2d_qk, selective_scan_states, use_backend)

from op_testing import stage_cases
from oracles import brute_scan

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10),
       torch.float32: dict(rtol=2e-4, atol=2e-4),
       torch.float16: dict(rtol=2e-2, atol=2e-2),
       torch.bfloat16: dict(rtol=5e-2, atol=5e-2)}
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
CHUNK = 1024  # steps per chunk of the CUDA scan (kChunk, selective_scan.cu)


def _leaves(tensors, dtype):
    return [t.to(dtype).requires_grad_() for t in tensors]


def _outputs_and_grads(backend, fn, inputs):
    """fn's output and the gradients of a weighted sum w.r.t. every input."""
    with use_backend(backend):
        out = fn(*inputs)
    weight = torch.linspace(-1, 1, out.numel(), dtype=torch.float64)
    loss = (out.double().flatten() * weight).sum()
    return (out, ) + torch.autograd.grad(loss, inputs, allow_unused=True,
                                         materialize_grads=True)


def _check(fn, tensors, dtype):
    """cuda_host on ``dtype`` inputs against the reference in float64."""
    got = _outputs_and_grads('cuda_host', fn, _leaves(tensors, dtype))
    want = _outputs_and_grads('reference', fn,
                              _leaves(tensors, torch.float64))
    for index, (g, w) in enumerate(zip(got, want)):
        torch.testing.assert_close(g.double(), w, **TOL[dtype],
                                   msg=lambda m: f'output {index}: {m}')
    return got


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _na_tensors(B, heads, H, W, d, K, seed):
    gen = _gen(seed)
    q, k, v = (torch.randn(B, heads, H, W, d, generator=gen) for _ in range(3))
    rpb = torch.randn(heads, 2 * K - 1, 2 * K - 1, generator=gen)
    attn = torch.randn(B, heads, H, W, K * K, generator=gen).softmax(-1)
    return q, k, v, rpb, attn


def _scan_tensors(batch, D, N, L, seed, slow=False):
    """Inputs of the scan; slow: decays near 1, so states carry far."""
    gen = _gen(seed)
    u = torch.randn(batch, D, L, generator=gen)
    delta = torch.randn(batch, D, L, generator=gen) * 0.5 - 1
    A = -(torch.rand(D, N, generator=gen) * 2 + 0.1)
    if slow:
        delta = delta - 4  # softplus ~ e^-5
        A = A * 0.05
    B = torch.randn(batch, N, L, generator=gen)
    bias = torch.randn(D, generator=gen) * 0.5
    return u, delta, A, B, bias


def _aggregate_tensors(B, G, d, H, W, K, seed):
    gen = _gen(seed)
    maps = [torch.randn(B, G // 2, H, W, K * K, generator=gen).softmax(-1)
            for _ in range(2)]
    return maps + [torch.randn(B, G, d, H, W, generator=gen)]


def _depthwise_tensors(B, C, H, W, K, seed):
    gen = _gen(seed)
    x = torch.randn(B, H, W, C, generator=gen).permute(0, 3, 1, 2)
    return [x, torch.randn(C, 1, K, K, generator=gen) / K,
            torch.randn(C, generator=gen)]


def _depthwise(residual):
    return lambda x, w, b: depthwise_conv2d(x, w, b, residual)


def _qk(K, dil):
    return lambda q, k, rpb: na2d_qk(q, k, K, dil, rpb=rpb)


def _av(K, dil):
    return lambda attn, v: na2d_av(attn, v, K, dil)


def _agg(K, dil):
    return lambda a1, a2, states: a2ssm_aggregate(a1, a2, states, K, dil)


def _scan(u, delta, A, B, bias):
    return selective_scan_states(u, delta, A, B, bias)


# ---- every op in every dtype ---------------------------------------------
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_na2d_qk(dtype):
    q, k, _, rpb, _ = _na_tensors(2, 2, 11, 13, 8, 3, seed=1)
    _check(_qk(3, (2, 3)), [q, k, rpb], dtype)


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_na2d_av(dtype):
    _, _, v, _, attn = _na_tensors(2, 2, 11, 13, 8, 3, seed=2)
    _check(_av(3, (3, 2)), [attn, v], dtype)


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_a2ssm_aggregate(dtype):
    _check(_agg(3, (3, 2)), _aggregate_tensors(1, 4, 5, 10, 13, 3, seed=3),
           dtype)


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('kernel,residual', [(3, True), (5, False), (7, True)])
def test_depthwise_conv2d(dtype, kernel, residual):
    """Odd map and channel counts (a partial dweight tile)."""
    _check(_depthwise(residual),
           _depthwise_tensors(2, 37, 7, 9, kernel, seed=kernel), dtype)


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('length', [1, 37, CHUNK, CHUNK + 1, 2 * CHUNK + 1])
def test_scan(dtype, length):
    """Short, one full chunk, one step into the second and the third."""
    _check(_scan, list(_scan_tensors(2, 3, 2, length, seed=length)), dtype)


def test_scan_carries_across_many_chunks():
    """L = 9 chunks + 77 steps with slowly decaying states: a wrong carry
    between chunks changes every later state (checked against a float64
    loop, not only the reference)."""
    from mmmamba.ops.extension import \
        require_cuda_host_extension as cuda_host_extension
    assert cuda_host_extension().cuda_selective_scan_chunks(CHUNK) == 1
    assert cuda_host_extension().cuda_selective_scan_chunks(CHUNK + 1) == 2
    tensors = _scan_tensors(1, 2, 1, 9 * CHUNK + 77, seed=4, slow=True)
    decay = torch.exp(torch.nn.functional.softplus(tensors[1] + tensors[4][:, None])
                      * tensors[2][None, :, :1]).mean()
    assert decay > 0.99  # the states really do carry over thousands of steps
    h = _check(_scan, list(tensors), torch.float32)[0]
    torch.testing.assert_close(h.double(), brute_scan(*tensors), rtol=1e-4,
                               atol=1e-4)


def test_scan_several_states_and_no_softplus():
    u, delta, A, B, bias = _scan_tensors(2, 3, 4, 300, seed=5)
    fn = lambda u, delta, A, B: selective_scan_states(  # noqa: E731
        u, delta.exp(), A, B, None, delta_softplus=False)
    _check(fn, [u, delta, A, B], torch.float32)


# ---- float64 runs in float64 ----------------------------------------------
@pytest.mark.parametrize('op', ['qk', 'av', 'aggregate', 'scan', 'depthwise'])
def test_gradcheck_float64(op):
    q, k, v, rpb, attn = _na_tensors(1, 1, 5, 6, 3, 3, seed=6)
    fn, tensors = {
        'qk': (_qk(3, (1, 2)), [q, k, rpb]),
        'av': (_av(3, (1, 2)), [attn, v]),
        'aggregate': (_agg(3, (2, 1)),
                      _aggregate_tensors(1, 2, 2, 6, 4, 3, seed=7)),
        'scan': (_scan, list(_scan_tensors(1, 2, 2, 9, seed=8))),
        'depthwise': (_depthwise(True), _depthwise_tensors(1, 3, 5, 4, 3, 9)),
    }[op]
    inputs = _leaves(tensors, torch.float64)

    def run(*args):
        with use_backend('cuda_host'):
            return fn(*args)

    assert run(*inputs).dtype == torch.float64
    assert torch.autograd.gradcheck(run, tuple(inputs), fast_mode=True)


# ---- the archs' stage shapes ----------------------------------------------
STAGES = stage_cases(archs=('test', 'tiny'), input_sizes=(224, ))


@pytest.mark.parametrize('stage', STAGES, ids=str)
def test_stage_shapes_of_test_and_tiny(stage):
    """The local and dilated attention, aggregation and scan of each stage
    of the test and tiny archs at 224², batch 1, in fp32."""
    size, channels, heads, K, dil, a2ssm = stage
    d, g = channels // heads, max(heads // 2, 1)
    q, k, v, rpb, attn = _na_tensors(1, g, size, size, d, K, seed=size)
    for dilation in {1, dil}:
        if size >= K * dilation:
            _check(_qk(K, dilation), [q, k, rpb], torch.float32)
            _check(_av(K, dilation), [attn, v], torch.float32)
    if a2ssm:
        _check(_agg(K, (dil, dil)),
               _aggregate_tensors(1, heads, d, size, size, K, seed=K),
               torch.float32)
        _check(_scan, list(_scan_tensors(1, channels, 1, size * size,
                                         seed=channels)), torch.float32)


# ---- layouts and the backend itself ---------------------------------------
def test_non_contiguous_inputs():
    q, k, _, rpb, _ = _na_tensors(1, 2, 9, 8, 6, 3, seed=9)
    q, k = (t.transpose(2, 3).contiguous().transpose(2, 3) for t in (q, k))
    assert not q.is_contiguous()
    u, delta, A, B, bias = _scan_tensors(1, 4, 1, 50, seed=10)
    u = u.transpose(1, 2).contiguous().transpose(1, 2)
    assert not u.is_contiguous()
    _check(_qk(3, 2), [q, k, rpb], torch.float32)
    _check(_scan, [u, delta, A, B, bias], torch.float32)


def test_backward_is_deterministic():
    """No float atomics: two backward passes are bitwise equal."""
    q, k, _, rpb, _ = _na_tensors(1, 2, 12, 12, 4, 5, seed=11)
    scan_in = list(_scan_tensors(2, 3, 1, 3000, seed=12))
    for fn, tensors in ((_qk(5, 2), [q, k, rpb]), (_scan, scan_in)):
        runs = [_outputs_and_grads('cuda_host', fn,
                                   _leaves(tensors, torch.float32))
                for _ in range(2)]
        for a, b in zip(*runs):
            assert torch.equal(a, b)


def test_cuda_host_is_used_only_when_forced():
    x = torch.empty(1)
    assert explain_backend('na2d_av', x).backend == 'cpu'
    with use_backend('cuda_host'):
        choice = explain_backend('selective_scan_states', x)
    assert choice == ('cuda_host', 'forced by use_backend()')


def test_cuda_host_refuses_cuda_tensors():
    from mmmamba.ops import BackendUnavailableError
    with use_backend('cuda_host'), pytest.raises(BackendUnavailableError,
                                                 match='CPU tensors only'):
        explain_backend('na2d_av', torch.empty(1, device='meta'))


def test_a_failed_launch_names_the_op():
    """float64 with K = 31 needs 246 KB of shared memory per block, more
    than a GPU offers: the launcher's error reaches Python with the op."""
    maps = _aggregate_tensors(1, 2, 1, 31, 31, 31, seed=13)
    with use_backend('cuda_host'), pytest.raises(
            RuntimeError, match='a2ssm_aggregate_forward: CUDA kernel launch '
            r'failed: cudaError 1 \(invalid argument\)'):
        a2ssm_aggregate(*(t.double() for t in maps), 31, 1)


def test_scan_kernel_dtype_follows_the_sequence_inputs():
    """The model's fp32 A / delta_bias parameters do not turn fp16 / bf16
    sequences into an fp32 kernel call; any fp64 input makes it fp64."""
    from mmmamba.ops.extension import compiled_backend
    from mmmamba.ops.selective_scan.library import _compiled_inputs
    u, delta, A, B, bias = _scan_tensors(1, 2, 1, 5, seed=14)
    for dtype in (torch.float16, torch.bfloat16):
        args = _compiled_inputs(compiled_backend('cuda_host'), u.to(dtype),
                                delta.to(dtype), A, B.to(dtype), bias)
        assert [t.dtype for t in args] == [dtype, dtype, torch.float32, dtype,
                                           torch.float32]
    args = _compiled_inputs(compiled_backend('cuda_host'), u, delta,
                            A.double(), B, bias)
    assert {t.dtype for t in args} == {torch.float64}
    _check(lambda u, delta, B: _scan(u, delta, A, B, bias),
           [u, delta, B], torch.float16)
