"""The ``mmmamba::`` config prefix (see :mod:`mmmamba_config_hook`, which
holds the code so that the import hook installed with mmmamba can register
the prefix without importing torch)."""
from mmmamba_config_hook import SCOPE, config_root, register, resolve_config

register_config_scope = register

__all__ = ['SCOPE', 'config_root', 'register_config_scope', 'resolve_config']
