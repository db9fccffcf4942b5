"""Every CUDA source compiles with nvcc for sm_80 and sm_90 and links, and
the torch bindings of the launchers compile.

Compile and link only (no GPU here): the .cu files include no torch
headers, so nvcc builds them against the toolkit alone; the objects are then
linked with a C++ caller of every ``extern "C"`` launcher and the CUDA
runtime, as setup.py links them into ``mmmamba._C``. The bindings (the op
folders' csrc/<op>/cuda_wrappers.cpp and csrc/bindings.cpp with
MMMAMBA_WITH_CUDA) are compiled by the host compiler against the installed
(CPU) torch's headers, as setup.py compiles them. CI has nvcc, so a missing nvcc FAILS these tests
instead of skipping them.
"""
import os
import re
import shutil
import subprocess
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CUDA_SOURCES = sorted((ROOT / 'csrc').glob('**/*.cu'))
# the launcher headers of the ops (plain C, the CUDA wrappers include them)
LAUNCHER_HEADERS = ['neighborhood/cuda_launchers.h',
                    'selective_scan/cuda_launchers.h',
                    'a2ssm_aggregate/cuda_launchers.h',
                    'depthwise_conv2d/cuda_launchers.h']
ARCH_FLAGS = ['-gencode=arch=compute_80,code=sm_80',
              '-gencode=arch=compute_90,code=sm_90']
LAUNCHERS = ['mm_na2d_qk_forward', 'mm_na2d_qk_backward',
             'mm_na2d_av_forward', 'mm_na2d_av_backward',
             'mm_selective_scan_forward', 'mm_selective_scan_backward',
             'mm_a2ssm_aggregate_forward', 'mm_a2ssm_aggregate_backward',
             'mm_depthwise_conv2d_forward', 'mm_depthwise_conv2d_backward',
             'mm_na2d_rpb_tiles', 'mm_selective_scan_chunks',
             'mm_cuda_error_string', 'mm_cuda_kernel_image_status']
# the bindings: compiled with the flags torch's BuildExtension gives a
# CppExtension (it builds C++ sources with -std=c++20; torch 2.13's headers
# warn under c++17)
WRAPPER_SOURCES = sorted((ROOT / 'csrc').glob('*/cuda_wrappers.cpp'))
BINDINGS = ROOT / 'csrc' / 'bindings.cpp'
# the wrappers bindings.cpp binds as cuda_<op>_forward / _backward
WRAPPERS = [f'mmmamba::cuda::{op}_{pass_}' for op in
            ('na2d_qk', 'na2d_av', 'selective_scan', 'a2ssm_aggregate',
             'depthwise_conv2d')
            for pass_ in ('forward', 'backward')]


def _nvcc():
    for candidate in (shutil.which('nvcc'), '/usr/local/cuda/bin/nvcc'):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail('nvcc not found on PATH or at /usr/local/cuda/bin/nvcc: the '
                'CUDA kernels in csrc/ cannot be compile-checked. Install the '
                'CUDA toolkit (CI has it) or put nvcc on PATH.')


def _cudart_dir(nvcc):
    # /usr/local/bin/nvcc may be a wrapper script: also try the toolkit dirs
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


def _object_name(src):
    """<op folder>_<name>.o: every op folder has a cuda.cu."""
    return f'{src.parent.name}_{src.stem}.o'


def test_there_are_cuda_sources():
    names = {str(p.relative_to(ROOT / 'csrc')) for p in CUDA_SOURCES}
    assert {'neighborhood/cuda.cu', 'selective_scan/cuda.cu',
            'a2ssm_aggregate/cuda.cu', 'depthwise_conv2d/cuda.cu',
            'cuda/runtime.cu'} <= names
    assert len(WRAPPER_SOURCES) == 4


def test_every_cu_compiles_for_sm80_sm90_and_links(tmp_path):
    nvcc = _nvcc()
    objects = []
    for src in CUDA_SOURCES:
        obj = tmp_path / _object_name(src)
        _run([nvcc, '-c', '-std=c++17', '-Xcompiler', '-fPIC', *ARCH_FLAGS,
              str(src), '-o', str(obj)])
        objects.append(str(obj))
    # a host caller of every launcher, compiled without CUDA headers
    caller = tmp_path / 'caller.cpp'
    caller.write_text(
        ''.join(f'#include "{header}"\n' for header in LAUNCHER_HEADERS) +
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
    src.write_text('#include "common/math.h"\n'
                   '#include "depthwise_conv2d/math.h"\n'
                   'int main() { return mmmamba::na_window_start(0, 7, 3, 2) +\n'
                   '    mmmamba::dw_source(0, 1, 3); }\n')
    _run(['g++', '-std=c++17', '-I', str(ROOT / 'csrc'), str(src), '-o',
          str(tmp_path / 'host')])


def _torch_flags():
    """Include dirs and defines of a torch CppExtension named mmmamba._C."""
    import torch
    from torch.utils.cpp_extension import include_paths
    includes = include_paths() + [sysconfig.get_paths()['include']]
    return ['-std=c++20', '-fPIC', '-O0', '-DMMMAMBA_WITH_CUDA',
            '-DTORCH_API_INCLUDE_EXTENSION_H', '-DTORCH_EXTENSION_NAME=_C',
            f'-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}',
            *(f'-I{path}' for path in includes)]


def _symbols(obj, *flags):
    return subprocess.run(['nm', '-C', *flags, str(obj)], capture_output=True,
                          text=True, check=True).stdout


def test_cuda_bindings_compile_against_the_torch_headers(tmp_path):
    """The op folders' cuda_wrappers.cpp and bindings.cpp (MMMAMBA_WITH_CUDA)
    compile with g++ against the torch headers alone; together they call
    every launcher, and the wrappers define every mmmamba::cuda function
    that bindings.cpp binds. bindings.cpp (torch/extension.h, ~35 s of CPU)
    dominates; the wrappers include ATen only (~10 s each); two at a time,
    unoptimised (~45 s on 2 idle cores)."""
    flags = _torch_flags()
    sources = [BINDINGS, *WRAPPER_SOURCES]
    objects = [tmp_path / _object_name(src) for src in sources]
    commands = [['g++', '-c', *flags, str(src), '-o', str(obj)]
                for src, obj in zip(sources, objects)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(_run, commands))
    called = {name for obj in objects for name in
              re.findall(r'\bU (mm_\w+)', _symbols(obj, '--undefined-only'))}
    assert sorted(called) == sorted(LAUNCHERS)
    bound = _symbols(objects[0], '--undefined-only')
    defined = ''.join(_symbols(obj, '--defined-only') for obj in objects[1:])
    for name in WRAPPERS:
        assert f'{name}(' in bound and f'{name}(' in defined, name


def _setup_module():
    """setup.py's helpers (it runs setup() only as __main__)."""
    from mmmamba.devtools import load_script
    return load_script(str(ROOT / 'setup.py'), 'mmmamba_setup')


def test_arch_list_gencode_flags():
    setup = _setup_module()
    assert setup.gencode_flags('8.0;9.0+PTX') == [
        '-gencode=arch=compute_80,code=sm_80',
        '-gencode=arch=compute_90,code=sm_90',
        '-gencode=arch=compute_90,code=compute_90']


def test_default_arch_list_is_what_this_nvcc_supports(monkeypatch):
    """No TORCH_CUDA_ARCH_LIST and no GPU: Volta..Blackwell less what nvcc
    dropped, PTX of the newest; the variable wins when set."""
    setup = _setup_module()
    nvcc = _nvcc()
    monkeypatch.delenv('TORCH_CUDA_ARCH_LIST', raising=False)
    archs = setup.cuda_arch_list(nvcc).split(';')
    supported = subprocess.run([nvcc, '--list-gpu-arch'], capture_output=True,
                               text=True, check=True).stdout
    assert archs[-1] == '12.0+PTX' and '9.0' in archs and '8.0' in archs
    for arch in archs:
        assert f'compute_{arch.replace("+PTX", "").replace(".", "")}' in supported
    assert ('7.0' in archs) == ('compute_70' in supported)
    monkeypatch.setenv('TORCH_CUDA_ARCH_LIST', '8.9')
    assert setup.cuda_arch_list(nvcc) == '8.9'
