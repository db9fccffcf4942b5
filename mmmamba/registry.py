"""Register mmmamba models in the mmdet and mmseg registries at once."""
from mmdet.registry import MODELS as MMDET_MODELS
from mmseg.registry import MODELS as MMSEG_MODELS

__all__ = ['register_model']


def register_model(cls):
    """Class decorator: register ``cls`` in mmdet's and mmseg's ``MODELS``.

    mmdet and mmseg keep separate registries (scopes ``mmdet`` / ``mmseg``);
    a config of either framework builds the class by its bare name.
    """
    MMDET_MODELS.register_module(module=cls)
    MMSEG_MODELS.register_module(module=cls)
    return cls
