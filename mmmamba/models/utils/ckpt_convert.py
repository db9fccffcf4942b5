"""Map the released A2Mamba checkpoint layout to mmmamba's (pure function).

Released layout (timm training script): ``patch_embed.{0,1,3,...}``,
``layers.{0,2,4,6}`` (stages) interleaved with ``layers.{1,3,5}``
(downsamples), ``token_mixer`` / ``mlp`` / ``layer_scale{1,2}`` inside
blocks, the A2SSM under ``token_mixer.ssm``, the relative-position bias
stored twice (``rpb.0`` and ``rpb.1``, one tied tensor) plus the stage-4
global bias as ``rpb.2``, and a ``classifier`` head that the backbone drops.
"""
import re
from collections import OrderedDict

import torch

__all__ = ['convert_official_a2mamba', 'is_official_layout']

# block-relative renames, tried in order; the first match wins
_BLOCK_RULES = [
    (r'token_mixer\.ssm\.x_proj_weight$', 'mixer.a2ssm.x_proj.weight'),
    (r'token_mixer\.ssm\.dt_projs_weight$', 'mixer.a2ssm.dt_proj.weight'),
    (r'token_mixer\.ssm\.dt_projs_bias$', 'mixer.a2ssm.dt_proj.bias'),
    (r'token_mixer\.ssm\.A_logs$', 'mixer.a2ssm.A_log'),
    (r'token_mixer\.ssm\.Ds$', 'mixer.a2ssm.D'),
    (r'token_mixer\.ssm\.conv2d\.(weight|bias)$', r'mixer.a2ssm.conv.\1'),
    (r'token_mixer\.ssm\.state_fusion\.(weight|bias)$',
     r'mixer.a2ssm.head_mix.\1'),
    (r'token_mixer\.rpb\.0$', 'mixer.rpb'),
    (r'token_mixer\.rpb\.2$', 'mixer.global_bias'),
    (r'token_mixer\.((?:qkv|gate\.[01]|lepe|norm|proj\.[01])\..+)$',
     r'mixer.\1'),
    (r'mlp\.((?:fc1|dwconv|fc2)\.(?:weight|bias))$', r'ffn.\1'),
    (r'layer_scale([12])\.(weight|bias)$', r'ls\1.\2'),
    (r'((?:cpe[12]|norm[12])\.(?:weight|bias))$', r'\1'),
]
_TIED_RPB = re.compile(r'(.*)token_mixer\.rpb\.1$')


def is_official_layout(state_dict):
    """True when the keys follow the released model's naming."""
    return any(k.startswith(('patch_embed.', 'layers.')) for k in state_dict)


def _rename(key):
    """New name of a released key; None for the dropped classifier."""
    if key.startswith('classifier.'):
        return None
    m = re.match(r'patch_embed\.(\d+)\.(.+)$', key)
    if m:
        return f'stem.{m[1]}.{m[2]}'
    m = re.match(r'layers\.(\d+)\.(.+)$', key)
    if m:
        index, rest = int(m[1]), m[2]
        if index % 2:  # downsample between stages
            return f'downsamples.{index // 2}.{rest}'
        stage = f'stages.{index // 2}'
        if rest == 'rope.angle':
            return f'{stage}.rope.angle'
        m = re.match(r'blocks\.(\d+)\.(.+)$', rest)
        if m:
            for pattern, repl in _BLOCK_RULES:
                new, hits = re.subn(pattern, repl, m[2])
                if hits:
                    return f'{stage}.blocks.{m[1]}.{new}'
    raise KeyError(f'no mmmamba counterpart for released key {key!r}')


def convert_official_a2mamba(state_dict):
    """Released A2Mamba state dict → mmmamba backbone state dict.

    Returns the dict unchanged when it is already in mmmamba's layout.
    Drops ``classifier.*``; checks that the two stored copies of each tied
    relative-position bias are equal and keeps one.

    Raises:
        KeyError: a key that has no place in the backbone (lists them all).
        ValueError: tied bias copies that differ.
    """
    if not is_official_layout(state_dict):
        return state_dict
    converted, unplaced = OrderedDict(), []
    for key, value in state_dict.items():
        tied = _TIED_RPB.match(key)
        if tied:
            first = state_dict.get(f'{tied[1]}token_mixer.rpb.0')
            if first is None or not torch.equal(first, value):
                raise ValueError(
                    f'{key} should equal {tied[1]}token_mixer.rpb.0 (the '
                    f'released model ties the local and dilated biases), but '
                    f'it {"is missing" if first is None else "differs"}; the '
                    f'checkpoint is not a released A2Mamba one')
            continue
        try:
            new_key = _rename(key)
        except KeyError:
            unplaced.append(key)
            continue
        if new_key is not None:
            converted[new_key] = value
    if unplaced:
        raise KeyError(f'{len(unplaced)} released keys have no place in the '
                       f'mmmamba backbone: {unplaced[:20]}'
                       f'{" ..." if len(unplaced) > 20 else ""}')
    return converted
