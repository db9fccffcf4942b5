"""mmmamba: A2Mamba backbones and MASS necks for mmdet and mmseg.

Importing the package registers its models in BOTH ``mmdet.registry.MODELS``
and ``mmseg.registry.MODELS`` so stock configs can say ``type='A2Mamba'``.
"""
from .version import __version__
from . import models  # noqa: F401  (registers the models)
from .utils import register_config_scope

register_config_scope()  # `_base_ = ['mmmamba::a2mamba/...']` resolves

__all__ = ['__version__']
