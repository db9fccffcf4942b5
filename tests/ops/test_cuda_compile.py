"""Every CUDA source compiles with nvcc for sm_80 and sm_90 and links.

Compile and link only (no GPU here): the .cu files include no torch
headers, so nvcc builds them against the toolkit alone; the objects are then
linked with a C++ caller of every ``extern "C"`` launcher and the CUDA
runtime, as setup.py links them into ``mmmamba._C``. CI has nvcc, so a
missing nvcc FAILS this test instead of skipping it.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CUDA_SOURCES = sorted((ROOT / 'csrc').rglob('*.cu'))
ARCH_FLAGS = ['-gencode=arch=compute_80,code=sm_80',
              '-gencode=arch=compute_90,code=sm_90']
LAUNCHERS = ['mm_na2d_qk_forward', 'mm_na2d_qk_backward',
             'mm_na2d_av_forward', 'mm_na2d_av_backward',
             'mm_selective_scan_forward', 'mm_selective_scan_backward']


def _nvcc():
    for candidate in (shutil.which('nvcc'), '/usr/local/cuda/bin/nvcc'):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail('nvcc not found on PATH or at /usr/local/cuda/bin/nvcc: the '
                'CUDA kernels in csrc/ cannot be compile-checked. Install the '
                'CUDA toolkit (CI has it) or put nvcc on PATH.')


def _cudart_dir(nvcc):
    # /usr/local/bin/nvcc may be a wrapper script: also try the toolkit dirs
    import os
    homes = [os.environ.get('CUDA_HOME'), Path(nvcc).resolve().parent.parent,
             '/usr/local/cuda']
    for home in filter(None, homes):
        if (Path(home) / 'lib64' / 'libcudart.so').exists():
            return Path(home) / 'lib64'
    pytest.fail(f'libcudart.so not found next to {nvcc} or in /usr/local/cuda;'
                ' set CUDA_HOME to the CUDA toolkit.')


def _run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, (f'{" ".join(map(str, cmd))} failed:\n'
                                  f'{proc.stdout}\n{proc.stderr}')


def test_there_are_cuda_sources():
    names = {p.name for p in CUDA_SOURCES}
    assert {'neighborhood.cu', 'selective_scan.cu'} <= names


def test_every_cu_compiles_for_sm80_sm90_and_links(tmp_path):
    nvcc = _nvcc()
    objects = []
    for src in CUDA_SOURCES:
        obj = tmp_path / f'{src.stem}.o'
        _run([nvcc, '-c', '-std=c++17', '-Xcompiler', '-fPIC', *ARCH_FLAGS,
              str(src), '-o', str(obj)])
        objects.append(str(obj))
    # a host caller of every launcher, compiled without CUDA headers
    caller = tmp_path / 'caller.cpp'
    caller.write_text(
        '#include "cuda/mmmamba_cuda.h"\n'
        'extern "C" void* mm_all_launchers[] = {' +
        ', '.join(f'(void*)&{name}' for name in LAUNCHERS) + '};\n')
    lib_dir = _cudart_dir(nvcc)
    _run(['g++', '-shared', '-fPIC', '-I', str(ROOT / 'csrc'), str(caller),
          *objects, '-L', str(lib_dir), '-lcudart', '-o',
          str(tmp_path / 'libmm_cuda.so')])
    symbols = subprocess.run(['nm', '-D', '--defined-only',
                              str(tmp_path / 'libmm_cuda.so')],
                             capture_output=True, text=True).stdout
    for name in LAUNCHERS:
        assert name in symbols


def test_shared_math_header_compiles_on_the_host(tmp_path):
    """g++ (no CUDA) compiles the host/device header the CPU kernels use."""
    src = tmp_path / 'host.cpp'
    src.write_text('#include "mmmamba_math.h"\n'
                   'int main() { return mmmamba::na_window_start(0, 7, 3, 2); }\n')
    _run(['g++', '-std=c++17', '-I', str(ROOT / 'csrc'), str(src), '-o',
          str(tmp_path / 'host')])
