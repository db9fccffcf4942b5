"""Register mmmamba models in the registries of mmdet and / or mmseg.

Whichever of the two frameworks is installed gets the models (both when both
are); mmmamba needs at least one of them.
"""
import importlib

__all__ = ['FRAMEWORKS', 'framework_registries', 'register_model']

FRAMEWORKS = ('mmdet', 'mmseg')
_registries = {}


def framework_registries():
    """``{framework: MODELS}`` for each installed framework (cached).

    Raises:
        ImportError: neither mmdet nor mmseg imports; the message says what
            each import failed with.
    """
    if not _registries:
        errors = {}
        for name in FRAMEWORKS:
            try:
                _registries[name] = importlib.import_module(
                    f'{name}.registry').MODELS
            except ImportError as error:
                errors[name] = error
        if not _registries:
            raise ImportError(
                'mmmamba registers its models in mmdet or mmseg, but neither '
                'imports (' + '; '.join(f'{k}: {v}' for k, v in errors.items())
                + '); install one: `pip install "mmdet>=3.3,<3.4"` or `pip '
                'install "mmsegmentation>=1.2.2,<1.3"`')
    return dict(_registries)


def register_model(cls):
    """Class decorator: register ``cls`` in the ``MODELS`` registry of every
    installed framework (scopes ``mmdet`` / ``mmseg``), so a config of
    either builds the class by its bare name."""
    for registry in framework_registries().values():
        registry.register_module(module=cls)
    return cls
