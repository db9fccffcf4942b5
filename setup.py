"""Packaging for mmmamba.

Install into an environment that already has torch, without build isolation (an isolated build
cannot see torch, and would fetch a CUDA build of it):

    pip install -e . --no-build-isolation

tools/setup_env.sh does this, after installing the pinned stack.
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

ROOT = Path(__file__).resolve().parent


def read_requirements(name):
    """Requirement lines of requirements/<name>, without comments."""
    lines = (ROOT / 'requirements' / name).read_text().splitlines()
    reqs = (line.split('#', 1)[0].strip() for line in lines)
    return [req for req in reqs if req]


def get_version():
    namespace = {}
    exec((ROOT / 'mmmamba' / 'version.py').read_text(), namespace)
    return namespace['__version__']


# GPU architectures built when neither TORCH_CUDA_ARCH_LIST nor a visible GPU
# says which: Volta to Blackwell, PTX of the newest for later GPUs (each
# entry is kept only if this nvcc supports it: CUDA 13 dropped sm_70).
DEFAULT_CUDA_ARCHS = ['7.0', '7.5', '8.0', '8.6', '8.9', '9.0', '10.0', '12.0']


def find_nvcc():
    """nvcc from CUDA_HOME, PATH or /usr/local/cuda, or None."""
    home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    candidates = [Path(home) / 'bin' / 'nvcc'] if home else []
    found = shutil.which('nvcc')
    if found:
        candidates.append(Path(found))
    candidates.append(Path('/usr/local/cuda/bin/nvcc'))
    return next((c for c in candidates if c.exists()), None)


def want_cuda():
    """Build the CUDA kernels: MMMAMBA_WITH_CUDA=1, or a CUDA torch + a GPU."""
    flag = os.environ.get('MMMAMBA_WITH_CUDA')
    if flag is not None:
        return flag == '1'
    import torch
    return torch.version.cuda is not None and torch.cuda.is_available()


def cuda_arch_list(nvcc):
    """TORCH_CUDA_ARCH_LIST if set; else the visible GPUs' architectures;
    else DEFAULT_CUDA_ARCHS that nvcc supports, the newest with +PTX."""
    if os.environ.get('TORCH_CUDA_ARCH_LIST'):
        return os.environ['TORCH_CUDA_ARCH_LIST']
    import torch
    if torch.version.cuda is not None and torch.cuda.is_available():
        archs = sorted({'%d.%d' % torch.cuda.get_device_capability(i)
                        for i in range(torch.cuda.device_count())})
        return ';'.join(archs[:-1] + [archs[-1] + '+PTX'])
    listed = subprocess.run([str(nvcc), '--list-gpu-arch'], check=True,
                            capture_output=True, text=True).stdout.split()
    supported = {a.replace('compute_', '') for a in listed}
    archs = [a for a in DEFAULT_CUDA_ARCHS if a.replace('.', '') in supported]
    return ';'.join(archs[:-1] + [archs[-1] + '+PTX'])


def gencode_flags(arch_list):
    """nvcc -gencode flags of a TORCH_CUDA_ARCH_LIST string."""
    flags = []
    for arch in arch_list.replace(',', ';').replace(' ', ';').split(';'):
        if not arch:
            continue
        num = arch.replace('+PTX', '').replace('.', '')
        flags.append(f'-gencode=arch=compute_{num},code=sm_{num}')
        if arch.endswith('+PTX'):
            flags.append(f'-gencode=arch=compute_{num},code=compute_{num}')
    return flags


def csrc_files(pattern):
    """The csrc/ files matching a glob pattern, sorted, relative to the root."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'csrc').glob(pattern))


def cuda_sources():
    """Every CUDA source: each op folder's cuda.cu and csrc/cuda/runtime.cu."""
    return csrc_files('**/*.cu')


def unique_stem(src):
    """``<folder>_<name>`` of a csrc/ file: a unique object name (every op
    folder has a cuda.cu)."""
    return f'{Path(src).parent.name}_{Path(src).stem}'


def compile_cuda_objects(nvcc, arch_list):
    """nvcc -c every CUDA source (no torch headers) into build/mmmamba_cuda/:
    the compile check of the CUDA kernels on a CPU-only torch."""
    out_dir = ROOT / 'build' / 'mmmamba_cuda'
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in cuda_sources():
        obj = out_dir / (unique_stem(src) + '.o')
        subprocess.run([str(nvcc), '-c', '-O3', '-std=c++17', '-Xcompiler', '-fPIC',
                        *gencode_flags(arch_list), str(ROOT / src), '-o', str(obj)],
                       check=True)
        objects.append(str(obj))
    return objects


def cuda_toolkit_libdir(nvcc):
    homes = [os.environ.get('CUDA_HOME'), nvcc.resolve().parent.parent, '/usr/local/cuda']
    lib_dir = next((str(Path(h) / 'lib64') for h in homes
                    if h and (Path(h) / 'lib64' / 'libcudart.so').exists()), None)
    if lib_dir is None:
        raise RuntimeError(f'libcudart.so not found for {nvcc} (set CUDA_HOME)')
    return lib_dir


def check_toolkit_matches_torch(nvcc):
    """The toolkit's CUDA major version must be torch's (one libcudart)."""
    import torch
    out = subprocess.run([str(nvcc), '--version'], check=True, capture_output=True,
                         text=True).stdout
    toolkit = out.rsplit('release ', 1)[-1].split(',')[0]
    if toolkit.split('.')[0] != torch.version.cuda.split('.')[0]:
        raise RuntimeError(f'nvcc {nvcc} is CUDA {toolkit} but torch was built with '
                           f'CUDA {torch.version.cuda}: set CUDA_HOME to a CUDA '
                           f'{torch.version.cuda.split(".")[0]}.x toolkit')


def main_extension():
    """``mmmamba._C``: the C++ CPU kernels, and the CUDA kernels when wanted.

    Sources: csrc/bindings.cpp and every op folder's cpu*.cpp; with CUDA also
    the op folders' cuda_wrappers.cpp and every .cu.

    With a CUDA build of torch: torch's CUDAExtension (its CUDA runtime, nvcc
    flags, TORCH_CUDA_ARCH_LIST honoured; see cuda_arch_list). With a
    CPU-only torch and MMMAMBA_WITH_CUDA=1: the .cu files are compiled by a
    hand-run nvcc and linked with the toolkit's runtime, which only checks
    that they compile and link (a CPU torch cannot run them).
    """
    sources = ['csrc/bindings.cpp', *csrc_files('*/cpu*.cpp')]
    from torch.utils.cpp_extension import CppExtension, CUDAExtension
    # -g0 overrides Python's default -g: no debug info, smaller objects, a faster build
    kwargs = dict(extra_compile_args={'cxx': ['-O3', '-g0', '-fopenmp']},
                  extra_link_args=['-fopenmp'])
    if not want_cuda():
        return CppExtension('mmmamba._C', sources, **kwargs)
    nvcc = find_nvcc()
    if nvcc is None:
        raise RuntimeError('MMMAMBA_WITH_CUDA=1 but nvcc was not found (set CUDA_HOME)')
    import torch
    arch_list = cuda_arch_list(nvcc)
    print(f'mmmamba: building the CUDA kernels for TORCH_CUDA_ARCH_LIST={arch_list}')
    kwargs['define_macros'] = [('MMMAMBA_WITH_CUDA', '1')]
    sources += csrc_files('*/cuda_wrappers.cpp')
    if torch.version.cuda is not None:
        check_toolkit_matches_torch(nvcc)
        os.environ['TORCH_CUDA_ARCH_LIST'] = arch_list  # what BuildExtension reads
        kwargs['extra_compile_args']['nvcc'] = ['-O3', '-std=c++17']
        return CUDAExtension('mmmamba._C', sources + cuda_sources(), **kwargs)
    lib_dir = cuda_toolkit_libdir(nvcc)
    return CppExtension('mmmamba._C', sources, extra_objects=compile_cuda_objects(nvcc, arch_list),
                        libraries=['cudart'], library_dirs=[lib_dir],
                        runtime_library_dirs=[lib_dir], **kwargs)


def cuda_host_extension():
    """``mmmamba._C_cuda_host``: the CUDA kernels compiled as C++ over the
    emulation in csrc/cuda_host/ (the `cuda_host` test backend), with the
    cuda_* bindings of csrc/bindings.cpp and the op folders'
    cuda_wrappers.cpp.

    Built when MMMAMBA_BUILD_CUDA_HOST=1 (tools/setup_env.sh sets it). Each
    .cu is compiled through a generated one-line .cpp in build/ that includes
    it, so the host compiler (and ninja's parallel build) takes it.
    """
    out_dir = ROOT / 'build' / 'cuda_host_sources'
    out_dir.mkdir(parents=True, exist_ok=True)
    includes = []
    for src in cuda_sources():
        include = out_dir / f'{unique_stem(src)}.cpp'
        text = f'#include "{ROOT / src}"\n'
        if not include.exists() or include.read_text() != text:
            include.write_text(text)
        includes.append(str(include.relative_to(ROOT)))
    from torch.utils.cpp_extension import CppExtension
    return CppExtension(
        'mmmamba._C_cuda_host',
        ['csrc/bindings.cpp', *csrc_files('*/cuda_wrappers.cpp'), *includes],
        define_macros=[('MMMAMBA_CUDA_HOST', '1')],
        extra_compile_args=['-O2', '-g0', '-pthread', '-Wno-unknown-pragmas'],
        extra_link_args=['-pthread'])


def get_extensions():
    """The compiled modules: mmmamba._C always, mmmamba._C_cuda_host on request."""
    if not (ROOT / 'csrc' / 'bindings.cpp').exists():
        return []
    extensions = [main_extension()]
    if os.environ.get('MMMAMBA_BUILD_CUDA_HOST') == '1':
        extensions.append(cuda_host_extension())
    return extensions


class BuildPyWithConfigs(build_py):
    """Ship configs/ as mmmamba/.mim/configs in regular installs.

    mmengine resolves `_base_ = ['mmmamba::a2mamba/...']` in an installed package's `.mim`
    folder. Editable installs need no copy: mmmamba.utils.config_scope falls back to the
    checkout's configs/.
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        mim = Path(self.build_lib) / 'mmmamba' / '.mim'
        shutil.copytree(ROOT / 'configs', mim / 'configs', dirs_exist_ok=True)
        (mim / 'model-index.yml').write_text('Import:\n  - configs/a2mamba/metafile.yml\n')


# The mmmamba:: config prefix must be known before stock mmdet / mmseg tools parse a config,
# i.e. before `custom_imports` run: a .pth file in site-packages installs mmmamba_config_hook
# at interpreter start (a finder; it imports nothing heavy). See mmmamba_config_hook.py.
CONFIG_HOOK_PTH = 'mmmamba_config_hook.pth'
CONFIG_HOOK_LINE = ("import importlib.util; importlib.util.find_spec('mmmamba_config_hook') "
                    "and __import__('mmmamba_config_hook').install()\n")


def write_config_hook_pth(directory):
    """Write the .pth file into `directory` (the root of what becomes site-packages)."""
    Path(directory, CONFIG_HOOK_PTH).write_text(CONFIG_HOOK_LINE)


class BuildPyWithConfigHook(BuildPyWithConfigs):
    """Regular installs: the .pth file goes next to the packages (site-packages)."""

    def run(self):
        super().run()
        if not getattr(self, 'editable_mode', False):
            write_config_hook_pth(self.build_lib)


class EditableWheelWithConfigHook(editable_wheel):
    """Editable installs (PEP 660): the .pth file goes into the editable wheel's root, which pip
    unpacks into site-packages (next to setuptools' own __editable__ .pth)."""

    def _run_build_commands(self, dist_name, unpacked_wheel, build_lib, tmp_dir):
        outputs = super()._run_build_commands(dist_name, unpacked_wheel, build_lib, tmp_dir)
        write_config_hook_pth(unpacked_wheel)
        return outputs


def main():
    ext_modules = get_extensions()
    cmdclass = {'build_py': BuildPyWithConfigHook, 'editable_wheel': EditableWheelWithConfigHook}
    if ext_modules:
        from torch.utils.cpp_extension import BuildExtension
        cmdclass['build_ext'] = BuildExtension

    setup(
        name='mmmamba',
        version=get_version(),
        description='A2Mamba vision backbone for mmdet and mmseg',
        long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
        long_description_content_type='text/markdown',
        packages=find_packages(include=['mmmamba', 'mmmamba.*']),
        py_modules=['mmmamba_config_hook'],
        python_requires='>=3.10',
        install_requires=read_requirements('runtime.txt'),
        extras_require={'tests': read_requirements('tests.txt'),
                        'deploy': read_requirements('deploy.txt')},
        ext_modules=ext_modules,
        cmdclass=cmdclass,
        zip_safe=False,
    )


if __name__ == '__main__':  # how pip runs it; tests import the helpers above
    main()
