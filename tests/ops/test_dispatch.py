"""Backend choice, its explanation, forcing, and the not-built error; the
tiny A2Mamba with kernels equals it with reference operators."""
import pytest
import torch

from op_testing import KERNEL_BACKENDS, device_of
from oracles import brute_av, brute_qk

import mmmamba.ops.dispatch as dispatch
import mmmamba.ops.extension as extension
from mmmamba.ops import (BackendUnavailableError, explain_backend, na2d_av,
                         na2d_qk, selective_scan_states, use_backend)
from mmmamba.ops.registry import op_names


@pytest.fixture
def no_extension(monkeypatch):
    """Pretend mmmamba._C is not built."""
    monkeypatch.setitem(extension._cache, 'ext',
                        (None, ImportError('No module named mmmamba._C')))


def test_cpu_tensors_use_the_cpu_kernels_when_built():
    choice = explain_backend('na2d_qk', torch.randn(1))
    assert choice.backend == 'cpu' and 'C++' in choice.reason


def test_cpu_tensors_fall_back_to_reference_without_extension(no_extension):
    choice = explain_backend('selective_scan_states', torch.randn(1))
    assert choice.backend == 'reference'
    assert 'not available' in choice.reason
    assert 'tools/setup_env.sh' in choice.reason
    q = torch.randn(1, 1, 6, 6, 2, dtype=torch.float64)
    attn = na2d_qk(q, q, 3)
    torch.testing.assert_close(attn, brute_qk(q, q, 3, 1))
    torch.testing.assert_close(na2d_av(attn, q, 3), brute_av(attn, q, 3, 1))


def test_unloadable_extension_logs_one_warning(monkeypatch, caplog):
    """A broken mmmamba._C: the first call that falls back says why and how
    to build it, once; the result is the reference's."""
    import importlib
    real_import = importlib.import_module

    def import_module(name, *args):
        if name == 'mmmamba._C':
            raise ImportError('undefined symbol: _ZN3c10 (built for '
                              'another torch)')
        return real_import(name, *args)

    monkeypatch.setattr(extension.importlib, 'import_module', import_module)
    monkeypatch.delitem(extension._cache, 'ext', raising=False)
    q = torch.randn(1, 1, 6, 6, 2)
    with caplog.at_level('WARNING', logger=extension.logger.name):
        first = na2d_qk(q, q, 3)
        na2d_qk(q, q, 3)
        na2d_av(first.softmax(-1), q, 3)
    warnings = [r for r in caplog.records if r.levelname == 'WARNING']
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert 'undefined symbol' in message and 'reference' in message
    assert 'pip install -e . --no-build-isolation' in message
    torch.testing.assert_close(first.double(), brute_qk(q, q, 3, 1),
                               rtol=1e-5, atol=1e-5)


def test_forcing_an_unbuilt_backend_says_how_to_build(no_extension):
    q = torch.randn(1, 1, 6, 6, 2)
    with use_backend('cpu'):
        with pytest.raises(BackendUnavailableError,
                           match='setup_env.sh.*pip install -e . '
                           '--no-build-isolation'):
            na2d_qk(q, q, 3)


def test_env_var_forces_and_context_manager_wins(monkeypatch):
    x = torch.randn(1)
    monkeypatch.setenv('MMMAMBA_OPS_BACKEND', 'reference')
    choice = explain_backend('na2d_av', x)
    assert choice == ('reference',
                      'forced by MMMAMBA_OPS_BACKEND=reference')
    with use_backend('cpu'):
        assert explain_backend('na2d_av', x).backend == 'cpu'
    monkeypatch.setenv('MMMAMBA_OPS_BACKEND', 'gpu')
    with pytest.raises(ValueError, match='unknown backend'):
        explain_backend('na2d_av', x)


def test_unavailable_forced_backends_raise(monkeypatch):
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    x = torch.randn(1)
    with use_backend('cuda'):
        with pytest.raises(BackendUnavailableError, match='CUDA tensors'):
            explain_backend('na2d_qk', x)
    with use_backend('triton'):
        with pytest.raises(BackendUnavailableError,
                           match='CUDA tensors .or CPU tensors with '
                           'TRITON_INTERPRET=1'):
            explain_backend('na2d_av', x)
    with pytest.raises(ValueError, match='unknown mmmamba op'):
        explain_backend('conv', x)


@pytest.mark.parametrize('backend', KERNEL_BACKENDS)
def test_forced_backend_is_the_one_that_runs(backend):
    x = torch.empty(1, device=device_of(backend))
    with use_backend(backend):
        assert explain_backend('na2d_av', x).backend == backend


def test_meta_tensors_use_the_reference():
    choice = explain_backend('na2d_qk', torch.empty(1, device='meta'))
    assert choice.backend == 'reference'


def test_public_ops_follow_the_forced_backend(monkeypatch):
    calls = []
    cpu = extension.compiled_backend('cpu')
    real = cpu.run
    monkeypatch.setattr(cpu, 'run',
                        lambda function, *a: calls.append(function) or
                        real(function, *a))
    u = torch.randn(1, 2, 5)
    args = (u, u, -torch.ones(2, 1), torch.randn(1, 1, 5))
    with use_backend('reference'):
        selective_scan_states(*args)
    assert not calls
    selective_scan_states(*args)
    assert calls == ['selective_scan_forward']


def test_tiny_backbone_kernels_equal_reference():
    from mmmamba.models import A2Mamba
    torch.manual_seed(0)
    model = A2Mamba(arch='tiny').eval()
    x = torch.randn(1, 3, 64, 72)
    outs = {}
    for backend in ('reference', 'cpu'):
        model.zero_grad()
        with use_backend(backend):
            feats = model(x)
            sum(f.square().mean() for f in feats).backward()
        grads = [p.grad.clone() for p in model.parameters()
                 if p.grad is not None]
        outs[backend] = (feats, grads)
    for got, want in zip(outs['cpu'][0], outs['reference'][0]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert len(outs['cpu'][1]) == len(outs['reference'][1]) > 100
    # fp32 rounding differs per op and grows through 16 blocks: compare
    # each parameter's gradient norm-wise (elementwise would flag the
    # odd entry that sums large terms of both signs)
    for got, want in zip(outs['cpu'][1], outs['reference'][1]):
        assert (got - want).norm() <= 1e-3 * want.norm() + 1e-6


def test_triton_backend_runs_an_a2mamba_block():
    """Forced triton: av, scan and aggregation on Triton (the interpreter on
    CPU, see conftest.py), qk on the reference; equal to the reference."""
    from mmmamba.models.layers.block import A2MambaBlock
    from mmmamba.models.layers.rope import RoPE2d
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(0)
    block = A2MambaBlock(16, 2, 3, 2.0).to(device)
    sin, cos = (t.to(device) for t in RoPE2d(8)(8, 9))
    x = torch.randn(1, 16, 8, 9, device=device)
    results = {}
    for backend in ('reference', 'triton'):
        block.zero_grad()
        xi = x.clone().requires_grad_()
        with use_backend(backend):
            choices = {op: explain_backend(op, x).backend
                       for op in op_names()}
            out = block(xi, sin, cos)
            out.square().mean().backward()
        results[backend] = (out, xi.grad,
                            [p.grad.clone() for p in block.parameters()])
    assert choices == {'na2d_qk': 'reference', 'na2d_av': 'triton',
                       'selective_scan_states': 'triton',
                       'a2ssm_aggregate': 'triton',
                       'depthwise_conv2d': 'reference'}
    (out, dx, grads), (want, want_dx, want_grads) = (results['triton'],
                                                     results['reference'])
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dx, want_dx, rtol=1e-4, atol=1e-4)
    for g, w in zip(grads, want_grads):
        torch.testing.assert_close(g, w, rtol=1e-3, atol=1e-4)


class _FakeCudaBuild:
    """A CUDA build of mmmamba._C with no kernel image for the GPU."""

    @staticmethod
    def has_cuda():
        return True

    @staticmethod
    def cuda_kernel_image_status():
        return 209  # cudaErrorNoKernelImageForDevice

    @staticmethod
    def cuda_error_string(code):
        return f'no kernel image is available for execution on the device'


def test_gpu_without_a_kernel_image_falls_back_with_one_warning(
        monkeypatch, caplog):
    """An sm_120 GPU and a build for older archs: Triton takes over, one
    warning names the arch and the rebuild command; forcing cuda raises."""
    monkeypatch.setitem(extension._cache, 'ext', (_FakeCudaBuild(), None))
    monkeypatch.setattr(dispatch, '_triton_found', [True])
    for key in [k for k in extension._cache if k[0] == 'cuda_image']:
        monkeypatch.delitem(extension._cache, key)
    monkeypatch.setattr(torch.cuda, 'device', lambda index: _NullContext())
    monkeypatch.setattr(torch.cuda, 'get_device_capability',
                        lambda index: (12, 0))
    gpu = torch.device('cuda', 0)
    with caplog.at_level('WARNING', logger=extension.logger.name):
        first = extension.cuda_image_error(gpu)
        again = extension.cuda_image_error(gpu)
    assert first == again and 'sm_120' in first
    assert 'TORCH_CUDA_ARCH_LIST=12.0' in first
    assert len(caplog.records) == 1
    monkeypatch.setattr(dispatch, '_device_of', lambda tensors: gpu)
    choice = explain_backend('na2d_av')
    assert choice.backend == 'triton' and 'no CUDA kernel image' in choice.reason
    with use_backend('cuda'), pytest.raises(BackendUnavailableError,
                                            match='sm_120'):
        explain_backend('na2d_av')


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
