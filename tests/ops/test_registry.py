"""The op table (``mmmamba.ops.registry``), the compiled backends' dtype
rule (``CompiledBackend.dtype``) and what the public names are: each public
op dispatches, each ``*_reference`` is its package's reference."""
import importlib

import pytest
import torch
from op_testing import (aggregate_inputs, depthwise_inputs, na_inputs,
                        scan_inputs)

import mmmamba.ops as ops
import mmmamba.ops.neighborhood as neighborhood_package
import mmmamba.ops.registry as registry
import mmmamba.ops.selective_scan as scan_package
from mmmamba.ops.a2ssm_aggregate import reference as aggregate_reference
from mmmamba.ops.depthwise_conv2d import reference as depthwise_reference
from mmmamba.ops.extension import compiled_backend
from mmmamba.ops.neighborhood import reference as neighborhood_reference
from mmmamba.ops.selective_scan import reference as scan_reference

# the package, not ops.a2ssm_aggregate: the public function of that name
aggregate_package = importlib.import_module('mmmamba.ops.a2ssm_aggregate')
depthwise_package = importlib.import_module('mmmamba.ops.depthwise_conv2d')
OPS = ('na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate',
       'depthwise_conv2d')
# op: (package holding the public function, reference module)
PACKAGES = {
    'na2d_qk': (neighborhood_package, neighborhood_reference),
    'na2d_av': (neighborhood_package, neighborhood_reference),
    'selective_scan_states': (scan_package, scan_reference),
    'a2ssm_aggregate': (aggregate_package, aggregate_reference),
    'depthwise_conv2d': (depthwise_package, depthwise_reference),
}


def test_every_op_is_registered_once():
    assert sorted(registry.op_names()) == sorted(OPS)
    assert set(ops.__all__) >= set(OPS) | {f'{op}_reference' for op in OPS}


def test_registering_an_op_twice_raises(monkeypatch):
    monkeypatch.setattr(registry, '_OPS', dict(registry._OPS))
    with pytest.raises(ValueError, match="'na2d_av' is registered twice"):
        registry.register_op(registry.get_op('na2d_av'))


def test_unknown_op_names_the_choices():
    with pytest.raises(ValueError, match='unknown mmmamba op .conv.; choose '
                       'one of .*na2d_qk'):
        registry.get_op('conv')


@pytest.mark.parametrize('op', OPS)
def test_has_kernel_per_backend(op):
    for backend in registry.COMPILED_BACKENDS:
        assert registry.has_kernel(op, backend)
    # Triton has every kernel but qk's and the depthwise convolution's (the
    # reference runs them)
    assert registry.has_kernel(op, 'triton') == (
        op not in ('na2d_qk', 'depthwise_conv2d'))
    assert not registry.has_kernel(op, 'reference')


def test_triton_kernels_are_found_by_name():
    for op in OPS:
        if registry.has_kernel(op, 'triton'):
            forward, backward = registry.kernels(op, 'triton')
            assert callable(forward) and callable(backward)
    with pytest.raises(ValueError, match='triton backend has no kernel for '
                       'na2d_qk'):
        registry.kernels('na2d_qk', 'triton')


@pytest.mark.parametrize('op', OPS)
def test_public_names(op):
    """``ops.<op>`` is the dispatching function of the op's package, not
    its reference; ``ops.<op>_reference`` is the reference module's
    function, the one the table holds."""
    package, reference = PACKAGES[op]
    public = getattr(ops, op)
    assert public is getattr(package, op)
    assert public.__module__ == package.__name__
    ref = getattr(ops, f'{op}_reference')
    assert ref is getattr(reference, f'{op}_reference')
    assert ref.__module__ == reference.__name__
    assert registry.get_op(op).reference is ref
    assert public is not ref


def _call_args(op):
    """Small valid arguments of ``op``."""
    q, k, v, rpb = na_inputs(1, 2, 6, 7, 3, 3)
    attn = torch.randn(1, 2, 6, 7, 9).softmax(-1)
    return {
        'na2d_qk': (q, k, 3, 2, rpb),
        'na2d_av': (attn, v, 3, 2),
        'selective_scan_states': scan_inputs(1, 2, 1, 5),
        'a2ssm_aggregate': (*aggregate_inputs(1, 2, 2, 6, 7, 6, 7, 3), 3, 2),
        'depthwise_conv2d': (*depthwise_inputs(1, 4, 6, 7, 3), True),
    }[op]


@pytest.mark.parametrize('op', OPS)
def test_public_op_dispatches(monkeypatch, op):
    """Forced reference: the public op returns what the reference returns
    (a sentinel here); on the cpu backend the reference is not called."""
    package, _ = PACKAGES[op]
    calls = []
    sentinel = torch.zeros(1)
    monkeypatch.setattr(package, f'{op}_reference',
                        lambda *a: calls.append(a) or sentinel)
    args = _call_args(op)
    with ops.use_backend('reference'):
        assert getattr(ops, op)(*args) is sentinel
    assert len(calls) == 1
    with ops.use_backend('cpu'):
        assert getattr(ops, op)(*args) is not sentinel
    assert len(calls) == 1


F16, BF16, F32, F64 = (torch.float16, torch.bfloat16, torch.float32,
                       torch.float64)


@pytest.mark.parametrize('dtypes,cpu,cuda', [
    ((F32, F32), F32, F32),
    ((F16, F16), F32, F16),  # the CPU kernels read fp32 and fp64 only
    ((BF16, ), F32, BF16),
    ((F16, BF16), F32, F32),  # mixed: fp32
    ((F16, F32), F32, F32),
    ((F16, F64), F64, F64),  # any fp64: fp64
    ((F64, BF16, F32), F64, F64),
])
def test_compiled_backend_dtype_rule(dtypes, cpu, cuda):
    tensors = [torch.zeros(1, dtype=d) for d in dtypes]
    assert compiled_backend('cpu').dtype(*tensors) == cpu
    for name in ('cuda_host', 'cuda'):
        assert compiled_backend(name).dtype(*tensors, None) == cuda
