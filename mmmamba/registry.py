"""Register mmmamba models in the registries of mmdet and / or mmseg.

Whichever of the two frameworks is installed gets the models (both when both
are); mmmamba needs at least one of them.
"""
import importlib
import importlib.util

__all__ = ['FRAMEWORKS', 'framework_registries', 'missing_frameworks',
           'require_frameworks', 'register_model']

FRAMEWORKS = ('mmdet', 'mmseg')
INSTALL_HINT = ('`bash tools/setup_env.sh` in a checkout, or `pip install '
                '"mmengine==0.10.7" "mmdet>=3.3,<3.4" '
                '"mmsegmentation>=1.2.2,<1.3"` and mmcv 2.1.0 with its '
                'compiled ops (see the README\'s Install section)')
_registries = {}


def _installed(name):
    """Whether the top-level package ``name`` can be imported (not run)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # an import hook that refuses it
        return False


def missing_frameworks():
    """What of OpenMMLab the models need is not installed: a list of
    names (``mmengine``, ``mmcv``, ``mmdet or mmseg``), empty when the
    models can be imported. Looks the packages up without importing them."""
    found = {name: _installed(name) for name in ('mmengine', 'mmcv', *FRAMEWORKS)}
    missing = [name for name in ('mmengine', 'mmcv') if not found[name]]
    if not any(found[name] for name in FRAMEWORKS):
        missing.append(' or '.join(FRAMEWORKS))
    return missing


def require_frameworks():
    """ImportError saying what to install if :func:`missing_frameworks`."""
    missing = missing_frameworks()
    if missing:
        raise ImportError(
            f'mmmamba.models (the A2Mamba backbones and MASS necks) needs '
            f'OpenMMLab, which is missing here ({"; ".join(missing)}): '
            f'install it with {INSTALL_HINT}. The operators, mmmamba.ops, '
            f'need torch alone.')


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
