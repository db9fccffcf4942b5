"""The kernel backends as ``torch.library`` custom ops: fake (meta)
implementations that agree with the kernels (``torch.library.opcheck``), and
``torch.compile(fullgraph=True)`` tracing an A2Mamba block on CPU."""
import pytest
import torch

from mmmamba.models.layers.block import A2MambaBlock
from mmmamba.models.layers.rope import RoPE2d
from mmmamba.ops import use_backend  # registers torch.ops.mmmamba
from mmmamba.ops.registry import op_names

OPS = torch.ops.mmmamba


def _randn(*shape, seed=0, grad=True):
    gen = torch.Generator().manual_seed(seed + len(shape))
    return torch.randn(*shape, generator=gen).requires_grad_(grad)


def _op_cases(backend='cpu'):
    q, k = _randn(1, 2, 9, 10, 4, seed=1), _randn(1, 2, 9, 10, 4, seed=2)
    rpb = _randn(2, 5, 5, seed=3)
    attn = _randn(1, 2, 9, 10, 9, seed=4).softmax(-1)
    u, delta = _randn(2, 3, 11, seed=5), _randn(2, 3, 11, seed=6)
    A, B = -_randn(3, 2, seed=7).detach().exp(), _randn(2, 2, 11, seed=8)
    maps = [_randn(1, 1, 9, 10, 9, seed=s).softmax(-1) for s in (9, 10)]
    x_map = _randn(2, 7, 9, 20, seed=13).permute(0, 3, 1, 2)  # channels-last
    taps = _randn(20, 1, 5, 5, seed=14)
    return {
        'na2d_qk+rpb': (OPS.na2d_qk, (q, k, rpb, [3, 3], [2, 1], backend)),
        'na2d_qk': (OPS.na2d_qk, (q, k, None, [3, 3], [1, 3], backend)),
        'na2d_av': (OPS.na2d_av, (attn, q, [3, 3], [3, 2], backend)),
        'scan+bias': (OPS.selective_scan_states,
                      (u, delta, A, B, _randn(3, seed=11), True, backend)),
        'scan': (OPS.selective_scan_states,
                 (u, delta, A, B, None, False, backend)),
        'aggregate': (OPS.a2ssm_aggregate,
                      (*maps, _randn(1, 2, 3, 8, 10, seed=12), 3, [2, 2],
                       backend)),
        'depthwise+bias': (OPS.depthwise_conv2d,
                           (x_map, taps, _randn(20, seed=15), True, backend)),
        'depthwise': (OPS.depthwise_conv2d,
                      (x_map, taps, None, False, backend)),
    }


@pytest.mark.parametrize('backend', ['cpu', 'cuda_host'])
@pytest.mark.parametrize('name', list(_op_cases()))
def test_opcheck(name, backend):
    """Schema, fake tensors, autograd registration and AOT dispatch."""
    op, args = _op_cases(backend)[name]
    torch.library.opcheck(op, args)


class _RecordingBackend:
    """aot_eager (fake tensors + AOT autograd), recording the FX graphs."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, example_inputs):
        self.graphs.append(str(gm.graph))
        return torch._dynamo.lookup_backend('aot_eager')(gm, example_inputs)


def test_compile_fullgraph_traces_an_a2ssm_block():
    torch.manual_seed(0)
    block = A2MambaBlock(32, 4, 5, 2.0)  # MASS mixer with A2SSM, train mode
    sin, cos = RoPE2d(8)(12, 14)
    x = torch.randn(2, 32, 12, 14)
    results = {}
    for mode in ('eager-reference', 'compiled-cpu'):
        backend = mode.split('-')[1]
        torch._dynamo.reset()
        recorder = _RecordingBackend()
        fn = (block if mode.startswith('eager') else
              torch.compile(block, fullgraph=True, backend=recorder))
        block.zero_grad()
        xi = x.clone().requires_grad_()
        with use_backend(backend):
            out = fn(xi, sin, cos)
            out.square().mean().backward()
        grads = [p.grad.clone() for p in block.parameters()]
        results[mode] = (out, xi.grad, grads, recorder.graphs)
    want, got = results['eager-reference'], results['compiled-cpu']
    graphs = got[3]
    assert len(graphs) == 1  # fullgraph: one graph, no breaks
    for op in op_names():
        assert f'mmmamba.{op}' in graphs[0], op
    torch.testing.assert_close(got[0], want[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got[1], want[1], rtol=1e-4, atol=1e-4)
    for g, w in zip(got[2], want[2]):
        torch.testing.assert_close(g, w, rtol=1e-3, atol=1e-4)
