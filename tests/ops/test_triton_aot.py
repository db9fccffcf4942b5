"""Ahead-of-time compile of every Triton kernel for sm_80 and sm_90.

The interpreter runs the kernels' Python, not their GPU code generation:
``triton.compile`` lowers each kernel to PTX and cubin for a ``GPUTarget``
without a GPU and catches what the interpreter cannot (typing, layouts,
register allocation by ptxas). ``TRITON_INTERPRET=1`` (set by conftest.py
without a GPU) turns ``@triton.jit`` functions into interpreter objects that
``ASTSource`` cannot take, so the compiles run in one subprocess without it,
with a fresh cache so that nothing is a cache hit (one subprocess per
target, in parallel). Any failure fails here.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# (module under mmmamba.ops, kernel, constexprs, dtype of the input
# pointers). The scan's
# pointers in SCRIPT's COMPUTE_POINTERS hold the compute dtype (fp32; fp64
# for fp64 inputs); ACC is set to the compute dtype. A module's NUM_WARPS
# (what its launches use) is compiled with.
SCAN = dict(HAS_BIAS=True, SOFTPLUS=True, BLOCK_D=4, CHUNK=256)
SCAN_FP64 = dict(HAS_BIAS=False, SOFTPLUS=False, BLOCK_D=4, CHUNK=64)
SCAN_MODULE = 'selective_scan.triton'
CARRY_MODULE = 'selective_scan.triton_carry'
CASES = [
    (SCAN_MODULE, '_forward_kernel', dict(SCAN, WRITE_H=False), 'fp32'),
    (SCAN_MODULE, '_forward_kernel', dict(SCAN, WRITE_H=True), 'fp32'),
    (SCAN_MODULE, '_forward_kernel',
     dict(SCAN, WRITE_H=True, HAS_BIAS=False), 'bf16'),
    (SCAN_MODULE, '_forward_kernel', dict(SCAN_FP64, WRITE_H=True), 'fp64'),
    (SCAN_MODULE, '_backward_summary_kernel', SCAN, 'bf16'),
    (SCAN_MODULE, '_backward_summary_kernel', SCAN_FP64, 'fp64'),
    (SCAN_MODULE, '_backward_grads_kernel', SCAN, 'fp32'),
    (SCAN_MODULE, '_backward_grads_kernel', SCAN, 'bf16'),
    (SCAN_MODULE, '_backward_grads_kernel', SCAN_FP64, 'fp64'),
    (CARRY_MODULE, '_carry_kernel',
     dict(REVERSE=False, BLOCK_R=16, BLOCK_C=64), 'fp32'),
    (CARRY_MODULE, '_carry_kernel',
     dict(REVERSE=True, BLOCK_R=16, BLOCK_C=64), 'fp64'),
] + [('neighborhood.triton', kernel,
      dict(KH=kh, KW=kw, BLOCK_Q=64, BLOCK_C=bc), dt)
     for kernel in ('_av_forward_kernel', '_av_dattn_kernel',
                    '_av_dvalue_kernel')
     for kh, kw, bc, dt in ((7, 7, 32, 'fp32'), (13, 3, 64, 'bf16'))]
TARGETS = (80, 90)
PACKAGE_DIR = str(Path(__file__).resolve().parents[2] / 'mmmamba')

SCRIPT = r'''
import importlib, json, sys, types
# the kernels without mmmamba/__init__.py, which imports mmdet and mmseg
# where they are installed
package = types.ModuleType('mmmamba')
package.__path__ = [sys.argv[2]]
sys.modules['mmmamba'] = package
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

COMPUTE_POINTERS = {'h_ptr', 'grad_ptr', 'decay_ptr', 'state_ptr', 'dA_ptr',
                    'dB_ptr', 'dbias_ptr'}
cases, targets = json.loads(sys.argv[1])
for index, (module_name, name, constexprs, dtype) in enumerate(cases):
    module = importlib.import_module('mmmamba.ops.' + module_name)
    kernel = getattr(module, name)
    scan = module_name.startswith('selective_scan.')
    compute = 'fp64' if dtype == 'fp64' else 'fp32'
    if any(param.name == 'ACC' for param in kernel.params):
        constexprs['ACC'] = getattr(tl, {'fp32': 'float32',
                                         'fp64': 'float64'}[compute])
    signature = {}
    for param in kernel.params:
        if param.is_constexpr:
            signature[param.name] = 'constexpr'
        elif param.name.endswith('_ptr'):
            in_compute = scan and param.name in COMPUTE_POINTERS
            signature[param.name] = '*' + (compute if in_compute else dtype)
        else:
            signature[param.name] = 'i32'
    for arch in targets:
        try:
            compiled = triton.compile(
                ASTSource(fn=kernel, signature=signature,
                          constexprs=dict(constexprs)),
                target=GPUTarget('cuda', arch, 32),
                options=dict(num_warps=getattr(module, 'NUM_WARPS', 4)))
            ptx = compiled.asm['ptx']
            result = dict(ok='.entry ' + name in ptx and
                          'cubin' in compiled.asm, error='')
        except Exception as error:  # reported to the test, which fails
            result = dict(ok=False, error=f'{type(error).__name__}: {error}')
        print(json.dumps(dict(case=index, arch=arch, **result)), flush=True)
'''


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
    """``{(case index, arch): (ok, error)}``: one subprocess per target,
    run side by side."""
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    env['TRITON_CACHE_DIR'] = str(tmp_path_factory.mktemp('triton_cache'))
    procs = [
        subprocess.Popen([sys.executable, '-c', SCRIPT,
                          json.dumps([CASES, [arch]]), PACKAGE_DIR], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True) for arch in TARGETS
    ]
    results = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-4000:]
        for line in stdout.splitlines():
            record = json.loads(line)
            results[record['case'], record['arch']] = (record['ok'],
                                                       record['error'])
    return results


@pytest.mark.parametrize('arch', TARGETS)
@pytest.mark.parametrize('case', range(len(CASES)),
                         ids=[f'{c[1]}-{c[3]}-{i}'
                              for i, c in enumerate(CASES)])
def test_kernel_compiles_to_ptx(compiled, case, arch):
    ok, error = compiled[case, arch]
    assert ok, f'{CASES[case][1]} ({CASES[case][3]}) for sm_{arch}: {error}'
