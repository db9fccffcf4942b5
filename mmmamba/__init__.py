"""mmmamba: A2Mamba backbones and MASS necks for mmdet and mmseg.

Importing the package registers its models in ``MODELS`` of mmdet and / or
mmseg (whichever is installed) so their configs can say ``type='A2Mamba'``,
and the ``mmmamba::`` config prefix (``_base_ = ['mmmamba::a2mamba/...']``).
It changes nothing else in mmengine, mmcv, mmdet or mmseg: the adaptations
our tools need (CPU runs, weights-only resume) are in :mod:`mmmamba.utils`
and applied by the tools.
"""
import mmmamba_config_hook

from . import models  # noqa: F401  (registers the models)
from .version import __version__

mmmamba_config_hook.register()

__all__ = ['__version__']
