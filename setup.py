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


CUDA_ARCH_FLAGS = ['-gencode=arch=compute_80,code=sm_80', '-gencode=arch=compute_90,code=sm_90']


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


def compile_cuda_objects(nvcc):
    """nvcc -c every csrc/**/*.cu (no torch headers) into build/mmmamba_cuda/."""
    out_dir = ROOT / 'build' / 'mmmamba_cuda'
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in sorted((ROOT / 'csrc').rglob('*.cu')):
        obj = out_dir / (src.stem + '.o')
        subprocess.run([str(nvcc), '-c', '-O3', '-std=c++17', '-Xcompiler', '-fPIC',
                        *CUDA_ARCH_FLAGS, str(src), '-o', str(obj)], check=True)
        objects.append(str(obj))
    return objects


def get_extensions():
    """The ops in csrc/, built as `mmmamba._C` against the installed torch.

    Always the C++ CPU kernels (csrc/**/*.cpp). With MMMAMBA_WITH_CUDA=1 (or a CUDA torch on a
    machine with a GPU) the CUDA kernels (csrc/**/*.cu, no torch headers) are compiled by nvcc
    for sm_80 and sm_90 and linked in with the CUDA runtime; this works with the CPU torch too.
    """
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'csrc').rglob('*.cpp'))
    if not sources:
        return []
    from torch.utils.cpp_extension import CppExtension
    kwargs = dict(extra_compile_args=['-O3', '-fopenmp'], extra_link_args=['-fopenmp'])
    if want_cuda():
        nvcc = find_nvcc()
        if nvcc is None:
            raise RuntimeError('MMMAMBA_WITH_CUDA=1 but nvcc was not found (set CUDA_HOME)')
        homes = [os.environ.get('CUDA_HOME'), nvcc.resolve().parent.parent, '/usr/local/cuda']
        lib_dir = next((str(Path(h) / 'lib64') for h in homes
                        if h and (Path(h) / 'lib64' / 'libcudart.so').exists()), None)
        if lib_dir is None:
            raise RuntimeError(f'libcudart.so not found for {nvcc} (set CUDA_HOME)')
        kwargs.update(extra_objects=compile_cuda_objects(nvcc), libraries=['cudart'],
                      library_dirs=[lib_dir], runtime_library_dirs=[lib_dir],
                      define_macros=[('MMMAMBA_WITH_CUDA', '1')])
    return [CppExtension('mmmamba._C', sources, **kwargs)]


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
    extras_require={'tests': read_requirements('tests.txt')},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False,
)
