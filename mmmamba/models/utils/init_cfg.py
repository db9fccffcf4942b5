"""``init_cfg`` (a dict or a list of dicts, as mmengine accepts) split into
its ``Pretrained`` entries and the rest."""
from mmengine.model.weight_init import PretrainedInit

__all__ = ['PRETRAINED_KEYS', 'is_pretrained', 'split_init_cfg']

# what dict(type='Pretrained', ...) may hold for the backbone's loader
PRETRAINED_KEYS = ('type', 'checkpoint', 'prefix', 'state_dict_key',
                   'map_location')


def is_pretrained(cfg):
    """True for ``dict(type='Pretrained', ...)``."""
    return isinstance(cfg, dict) and cfg.get('type') in ('Pretrained',
                                                         PretrainedInit)


def split_init_cfg(init_cfg):
    """``(pretrained, others)``: two lists of the entries of ``init_cfg``."""
    if init_cfg is None:
        cfgs = []
    elif isinstance(init_cfg, dict):
        cfgs = [init_cfg]
    else:
        cfgs = list(init_cfg)
    return ([c for c in cfgs if is_pretrained(c)],
            [c for c in cfgs if not is_pretrained(c)])
