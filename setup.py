"""Packaging for mmmamba.

Install into an environment that already has torch, without build isolation (an isolated build
cannot see torch, and would fetch a CUDA build of it):

    pip install -e . --no-build-isolation

tools/setup_env.sh does this, after installing the pinned stack.
"""
from pathlib import Path

from setuptools import find_packages, setup

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


def get_extensions():
    """The C++ ops in csrc/, built as `mmmamba._C` against the installed torch.

    csrc/ holds no sources yet, so this returns [] and mmmamba installs as pure Python.
    """
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'csrc').rglob('*.cpp'))
    if not sources:
        return []
    from torch.utils.cpp_extension import CppExtension
    return [
        CppExtension(
            'mmmamba._C',
            sources,
            extra_compile_args=['-O3', '-fopenmp'],
            extra_link_args=['-fopenmp'],
        )
    ]


ext_modules = get_extensions()
cmdclass = {}
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
    python_requires='>=3.10',
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False,
)
