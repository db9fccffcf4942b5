"""Every kernel backend of this device against the reference, per op.

CPU machines check ``cpu`` and ``triton`` (the interpreter, see
conftest.py); a CUDA machine checks ``cuda`` (when built with
``MMMAMBA_WITH_CUDA=1``) and ``triton`` on the GPU, with the same shapes and
per-dtype tolerances. Outputs and every gradient.
"""
import pytest
import torch

from mmmamba.ops import (a2ssm_aggregate, explain_backend, na2d_av, na2d_qk,
                         selective_scan_states, use_backend)

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
BACKENDS = ['cuda', 'triton'] if DEVICE == 'cuda' else ['cpu', 'triton']
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4),
       torch.float16: dict(rtol=1e-2, atol=1e-2),
       torch.bfloat16: dict(rtol=3e-2, atol=3e-2)}


def _leaves(shapes, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=gen).to(DEVICE, dtype).requires_grad_()
            for s in shapes]


def _qk_av(q, k, v, rpb):
    attn = na2d_qk(q, k, 5, (2, 3), rpb=rpb).float().softmax(-1)
    return na2d_av(attn.to(v.dtype), v, 5, (2, 3))


def _scan(u, delta, A, B, bias):
    return selective_scan_states(u, delta, -A.float().exp(), B, bias)


def _aggregate(attn_local, attn_dilated, states):
    # the kernels get the maps and states in the test's dtype (no upcast)
    maps = (a.float().softmax(-1).to(a.dtype) for a in (attn_local,
                                                        attn_dilated))
    return a2ssm_aggregate(*maps, states, 3, (3, 2))


CASES = {  # op: (function, input shapes)
    'na2d': (_qk_av, [(2, 2, 13, 17, 8)] * 3 + [(2, 9, 9)]),
    'scan': (_scan, [(2, 6, 70), (2, 6, 70), (6, 2), (2, 2, 70), (6,)]),
    'aggregate': (_aggregate, [(1, 2, 10, 13, 9)] * 2 + [(1, 4, 5, 9, 12)]),
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16,
                                   torch.bfloat16])
@pytest.mark.parametrize('op', list(CASES))
@pytest.mark.parametrize('backend', BACKENDS)
def test_backend_matches_reference(backend, op, dtype):
    fn, shapes = CASES[op]
    inputs = _leaves(shapes, dtype, seed=len(op))
    results = {}
    for name in ('reference', backend):
        with use_backend(name):
            out = fn(*inputs)
        weight = torch.linspace(-1, 1, out.numel(), device=DEVICE)
        grads = torch.autograd.grad((out.float().flatten() * weight).sum(),
                                    inputs)
        results[name] = (out, ) + grads
    for got, want in zip(results[backend], results['reference']):
        assert got.dtype == want.dtype and got.shape == want.shape
        torch.testing.assert_close(got.float(), want.float(), **TOL[dtype])


@pytest.mark.parametrize('backend', BACKENDS)
def test_forced_backend_is_the_one_that_runs(backend):
    x = torch.empty(1, device=DEVICE)
    with use_backend(backend):
        assert explain_backend('na2d_av', x).backend == backend
