"""The ``mmmamba::`` config prefix, registered when mmengine's config loads.

A downstream config may say ``_base_ = ['mmmamba::a2mamba/<config>.py']``.
Stock mmdet / mmseg tools parse the config (and its bases) before
``custom_imports`` import anything, so ``import mmmamba`` comes too late to
teach mmengine the prefix. Installing mmmamba therefore also installs
``mmmamba_config_hook.pth`` into site-packages; its one line calls
:func:`install` at interpreter start, which adds a finder that calls
:func:`register` right after ``mmengine.config`` has been imported. Nothing
else is imported at interpreter start (no torch, no mmengine, no mmmamba).

:func:`register` changes mmengine for the ``mmmamba::`` prefix only:

* ``'mmmamba'`` is added to ``MODULE2PACKAGE`` (mmengine's table of
  packages whose configs ``pkg::path`` may name);
* ``Config._get_cfg_path`` resolves ``mmmamba::`` bases itself, against
  :func:`config_root`, and hands every other path to mmengine's own function.
  mmengine would look in ``<installed package>/.mim/configs``, which an
  editable install does not have, and it would give the base the scope
  ``mmmamba``: mmmamba has no registries of its own (its models live in
  mmdet's and mmseg's), so built objects would fall back to mmengine's root
  registries, which hold the wrong transforms and metrics. The base is
  returned without a scope, like a base given by path; our configs carry
  their framework's scope (``default_scope`` and the ``_scope_`` of their
  mmdet / mmseg bases).

This module is top-level (not ``mmmamba.*``) so that loading it does not run
``mmmamba/__init__.py``, which imports torch.
"""
import importlib.abc
import importlib.util
import os.path as osp
import sys
import warnings

__all__ = ['SCOPE', 'config_root', 'install', 'register', 'resolve_config']

SCOPE = 'mmmamba'
_CONFIG_MODULE = 'mmengine.config'


def _package_dir():
    """Directory of the mmmamba package, found without importing it."""
    spec = importlib.util.find_spec('mmmamba')
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            'mmmamba:: configs need the mmmamba package; install it with '
            '`pip install -e . --no-build-isolation` in its checkout')
    return osp.dirname(spec.origin)


def config_root(package_dir=None):
    """Directory that ``mmmamba::<rel path>`` is relative to:
    ``mmmamba/.mim/configs`` when an installed wheel ships the configs,
    else the source checkout's ``configs/``."""
    package_dir = package_dir or _package_dir()
    shipped = osp.join(package_dir, '.mim', 'configs')
    if osp.isdir(shipped):
        return shipped
    checkout = osp.join(osp.dirname(package_dir), 'configs')
    if osp.isdir(checkout):
        return checkout
    raise FileNotFoundError(
        f'mmmamba configs not found: neither {shipped} (installed package '
        f'data) nor {checkout} (source checkout) exists; reinstall mmmamba')


def resolve_config(cfg_path, package_dir=None):
    """``'mmmamba::a2mamba/x.py'`` (or ``'a2mamba/x.py'``) → absolute path."""
    rel = cfg_path.split('::', 1)[1] if '::' in cfg_path else cfg_path
    path = osp.join(config_root(package_dir), rel)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{cfg_path!r}: no such mmmamba config ({path})')
    return path


def register():
    """Teach mmengine's ``Config`` the ``mmmamba::`` prefix (idempotent;
    imports ``mmengine.config``)."""
    from mmengine.config import Config
    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault(SCOPE, 'mmmamba')
    original = Config.__dict__['_get_cfg_path'].__func__
    if getattr(original, '_mmmamba_prefix', False):
        return

    def _get_cfg_path(cfg_path, filename):
        if cfg_path.startswith(SCOPE + '::'):
            return resolve_config(cfg_path), None
        return original(cfg_path, filename)

    _get_cfg_path._mmmamba_prefix = True
    _get_cfg_path.__doc__ = original.__doc__
    Config._get_cfg_path = staticmethod(_get_cfg_path)


class _RegisterAfterExec(importlib.abc.Loader):
    """Runs the real loader of ``mmengine.config``, then :func:`register`."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        try:
            register()
        except Exception as error:  # never break mmengine for other programs
            warnings.warn(f'mmmamba:: config bases will not resolve: {error}')

    def __getattr__(self, name):  # get_source, resource readers, ...
        return getattr(self.loader, name)


class _ConfigModuleFinder(importlib.abc.MetaPathFinder):
    """One-shot finder: wraps the loader of ``mmengine.config``."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _CONFIG_MODULE:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec = getattr(finder, 'find_spec', lambda *a: None)(
                fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisterAfterExec(spec.loader)
                return spec
        return None


def install():
    """Register the prefix now if ``mmengine.config`` is loaded, else as
    soon as it is (what the ``.pth`` file calls)."""
    if _CONFIG_MODULE in sys.modules:
        register()
    elif not any(isinstance(f, _ConfigModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ConfigModuleFinder())
