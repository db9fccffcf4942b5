"""Every instruction-set variant of the CPU kernels (csrc/common/isa.h) the
CPU supports, against the reference; the choice, its override and its
errors."""
import os
import subprocess
import sys

import pytest
import torch
from op_testing import check_backend, depthwise_inputs, na_inputs

from mmmamba.ops import explain_backend
from mmmamba.ops.extension import require_extension

ISAS = ('avx512', 'avx2', 'baseline')


@pytest.fixture
def ext():
    ext = require_extension()
    yield ext
    ext._set_cpu_isa('')  # back to the widest the CPU supports


def _run_as(ext, isa):
    if isa not in ext._cpu_isas():
        pytest.skip(f'CPU lacks {isa}')
    ext._set_cpu_isa(isa)
    assert ext._cpu_isa() == isa


# (B, heads, H, W, dim, kernel, dilation): the fixed-width bodies (24, 28,
# 32, 64 channels) and run-time widths (3, 6, 16), tuple windows
ISA_CASES = [
    (1, 1, 20, 22, 24, 7, 2),
    (1, 2, 14, 14, 32, 7, 2),
    (1, 1, 9, 11, 28, 5, 1),
    (1, 2, 12, 13, 64, 3, 2),
    (1, 2, 17, 23, 6, (3, 5), (2, 4)),
    (1, 1, 27, 30, 3, 13, (2, 1)),
    (1, 1, 20, 21, 16, 17, (1, 1)),
]


def _attention(kernel, dilation):
    from mmmamba.ops import na2d_av, na2d_qk

    def fn(q, k, v, rpb):
        logits = na2d_qk(q, k, kernel, dilation, rpb=rpb)
        out = na2d_av(logits.softmax(-1), v, kernel, dilation)
        return torch.cat([out.flatten(), logits.flatten()])
    return fn


@pytest.mark.parametrize('case', ISA_CASES, ids=str)
@pytest.mark.parametrize('isa', ISAS)
def test_each_variant_matches_reference(ext, isa, case):
    _run_as(ext, isa)
    *shape, kernel, dilation = case
    inputs = na_inputs(*shape, kernel, seed=len(str(case)))
    check_backend('cpu', _attention(kernel, dilation), inputs,
                  ('out+logits', 'dq', 'dk', 'dv', 'drpb'))


# (B, C, H, W, K, residual): fixed K 3 / 5 / 7 with full vectors and a
# scalar tail, the generic-K loops
DEPTHWISE_CASES = [
    (2, 19, 7, 9, 3, True),
    (1, 40, 9, 7, 5, False),
    (1, 33, 12, 11, 7, True),
    (1, 17, 11, 10, 9, False),
]


@pytest.mark.parametrize('case', DEPTHWISE_CASES, ids=str)
@pytest.mark.parametrize('isa', ISAS)
def test_each_depthwise_variant_matches_reference(ext, isa, case):
    from mmmamba.ops import depthwise_conv2d
    _run_as(ext, isa)
    *shape, residual = case
    check_backend('cpu',
                  lambda x, w, b: depthwise_conv2d(x, w, b, residual),
                  depthwise_inputs(*shape, seed=len(str(case))),
                  ('out', 'dx', 'dweight', 'dbias'))


@pytest.mark.parametrize('isa', ISAS)
def test_the_variant_in_use_is_reported(ext, isa):
    _run_as(ext, isa)
    reason = explain_backend('na2d_qk', torch.zeros(1)).reason
    assert reason.endswith(f'{isa} variant'), reason


def test_default_is_the_widest_supported(ext):
    ext._set_cpu_isa('')
    assert ext._cpu_isa() == ext._cpu_isas()[0]
    assert ext._cpu_isas()[-1] == 'baseline'


def test_unknown_or_unsupported_isa_raises(ext):
    with pytest.raises(RuntimeError, match="unknown instruction set 'sse9'"):
        ext._set_cpu_isa('sse9')
    lacking = [isa for isa in ISAS if isa not in ext._cpu_isas()]
    for isa in lacking:
        with pytest.raises(RuntimeError, match=f'the CPU lacks {isa}'):
            ext._set_cpu_isa(isa)


def test_environment_override():
    code = ('from mmmamba.ops.extension import require_extension as r; '
            'print(r()._cpu_isa())')
    env = dict(os.environ, MMMAMBA_CPU_ISA='baseline')
    out = subprocess.run([sys.executable, '-c', code], env=env, text=True,
                         capture_output=True, check=True).stdout
    assert out.split() == ['baseline']
    env['MMMAMBA_CPU_ISA'] = 'sse9'
    proc = subprocess.run([sys.executable, '-c', code], env=env, text=True,
                          capture_output=True, check=False)
    assert proc.returncode and 'MMMAMBA_CPU_ISA: unknown instruction set' \
        in proc.stderr, proc.stderr
