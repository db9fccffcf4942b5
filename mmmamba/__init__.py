"""mmmamba: A2Mamba backbones and MASS necks for mmdet and mmseg.

:mod:`mmmamba.ops` (the operators) needs torch alone. Where OpenMMLab is
installed (mmengine, mmcv, and mmdet and / or mmseg), importing the package
also registers its models in ``MODELS`` of mmdet and / or mmseg so their
configs can say ``type='A2Mamba'``, and the ``mmmamba::`` config prefix
(``_base_ = ['mmmamba::a2mamba/...']``). Without it, ``mmmamba.models`` says
what to install when it is imported. It changes nothing else in mmengine,
mmcv, mmdet or mmseg: the adaptations our tools need (CPU runs,
weights-only resume) are in :mod:`mmmamba.utils` and applied by the tools.
"""
from .registry import missing_frameworks
from .version import __version__

if not missing_frameworks():
    import mmmamba_config_hook

    from . import models  # noqa: F401  (registers the models)

    mmmamba_config_hook.register()

__all__ = ['__version__']
