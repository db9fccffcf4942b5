"""Make ``_base_ = ['mmmamba::a2mamba/<config>.py']`` resolve.

mmengine resolves ``pkg::path`` bases only for packages in its fixed
``MODULE2PACKAGE`` table, and looks for them under
``<installed package>/.mim/configs``. Two problems for mmmamba:

* mmmamba is not in the table, so ``mmmamba::`` must be registered before a
  config is parsed (``import mmmamba`` does it; see ``register_config_scope``);
* with an editable (PEP 660) install mmengine's ``get_installed_path`` points
  into site-packages, where no ``.mim`` exists, and a source checkout has its
  configs in ``<repo>/configs``, not ``mmmamba/.mim/configs``.

So ``mmmamba::`` bases are resolved here, by wrapping
``Config._get_cfg_path`` for the ``mmmamba::`` prefix only, against
``config_root()``: ``mmmamba/.mim/configs`` when an installed wheel ships the
configs there, else the source checkout's ``configs/`` directory. Other
prefixes go to mmengine untouched.

The base is returned without a scope (like a base given by path): mmmamba
has no registries of its own (its models are registered in mmdet's and
mmseg's), and our configs already carry their framework's scope
(``default_scope`` and the ``_scope_`` of the mmdet/mmseg bases). A
``mmmamba`` scope would send mmengine looking for a registry tree that does
not exist, and it would fall back to the wrong (root) registries for
transforms and metrics.
"""
import os.path as osp

from mmengine.config import Config
from mmengine.config import utils as config_utils

__all__ = ['config_root', 'register_config_scope', 'SCOPE']

SCOPE = 'mmmamba'
_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config_root():
    """Directory that ``mmmamba::<rel path>`` is relative to."""
    shipped = osp.join(_PACKAGE_DIR, '.mim', 'configs')
    if osp.isdir(shipped):
        return shipped
    checkout = osp.join(osp.dirname(_PACKAGE_DIR), 'configs')
    if osp.isdir(checkout):
        return checkout
    raise FileNotFoundError(
        f'mmmamba configs not found: neither {shipped} (installed package '
        f'data) nor {checkout} (source checkout) exists; reinstall mmmamba')


def resolve_config(cfg_path):
    """``'mmmamba::a2mamba/x.py'`` (or ``'a2mamba/x.py'``) → absolute path."""
    rel = cfg_path.split('::', 1)[1] if '::' in cfg_path else cfg_path
    path = osp.join(config_root(), rel)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{cfg_path!r}: no such mmmamba config ({path})')
    return path


def register_config_scope():
    """Idempotent: teach mmengine's Config the ``mmmamba::`` prefix."""
    config_utils.MODULE2PACKAGE.setdefault(SCOPE, 'mmmamba')
    original = Config.__dict__['_get_cfg_path'].__func__
    if getattr(original, '_mmmamba_wrapped', False):
        return

    def _get_cfg_path(cfg_path, filename):
        if cfg_path.startswith(SCOPE + '::'):
            return resolve_config(cfg_path), None
        return original(cfg_path, filename)

    _get_cfg_path._mmmamba_wrapped = True
    _get_cfg_path.__doc__ = original.__doc__
    Config._get_cfg_path = staticmethod(_get_cfg_path)
