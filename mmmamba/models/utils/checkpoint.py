"""Safe, loud loading of backbone weights from a checkpoint file.

Files are read with ``torch.load(weights_only=True)``. The objects a timm
training script stores next to the weights (an ``argparse.Namespace`` of the
training arguments, numpy scalars for metrics) are allowed for the duration
of one load only; the global allow-list is left untouched.
"""
import argparse
import os
import pickle
from collections.abc import Mapping

import numpy as np
import torch
from mmengine.logging import print_log

from .ckpt_convert import convert_official_a2mamba, is_official_layout

__all__ = ['load_checkpoint_file', 'extract_state_dict',
           'load_backbone_weights']

# where wrappers keep the weights, in order of preference
STATE_DICT_KEYS = ('state_dict', 'model', 'module', 'state_dict_ema',
                   'model_ema')


def _training_metadata_globals():
    """Classes a timm checkpoint's metadata may pickle (no code runs)."""
    scalar = getattr(np, '_core', getattr(np, 'core', None)).multiarray.scalar
    dtypes = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64,
                                          np.int32, np.bool_)]
    return [argparse.Namespace, scalar, np.dtype, *dtypes]


def load_checkpoint_file(filename, map_location='cpu'):
    """Read a checkpoint with weights-only unpickling.

    Raises:
        FileNotFoundError: no such file.
        RuntimeError: unreadable (truncated, not a torch file) or holding
            objects outside the allow-list; the message says what to do.
    """
    if not os.path.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename!r} does not exist; set init_cfg='
            f"dict(type='Pretrained', checkpoint=PATH) to a downloaded file")
    try:
        with torch.serialization.safe_globals(_training_metadata_globals()):
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as err:
        raise RuntimeError(
            f'{filename} stores objects outside the weights-only allow-list '
            f'({err}). If you trust its origin, rewrite it as plain tensors '
            f'once with `python tools/convert_official_ckpt.py --trust '
            f'{filename} OUT.pth` and load OUT.pth') from err
    except Exception as err:
        raise RuntimeError(
            f'could not read checkpoint {filename}: {err}. The file is '
            f'truncated or not a PyTorch checkpoint; download it again') \
            from err


def extract_state_dict(checkpoint, state_dict_key=None):
    """The weights inside a checkpoint: a raw state dict, or one stored
    under ``state_dict`` / ``model`` / ... next to training metadata.

    Args:
        checkpoint (Mapping): what ``torch.load`` returned.
        state_dict_key (str, optional): pick this entry (e.g.
            ``'state_dict_ema'`` for an EMA copy) instead of the default
            order ``STATE_DICT_KEYS``.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'a checkpoint must be a dict, got '
                        f'{type(checkpoint).__name__}')
    if state_dict_key is not None:
        if not isinstance(checkpoint.get(state_dict_key), Mapping):
            raise KeyError(f'checkpoint has no state dict under '
                           f'{state_dict_key!r}; its entries: '
                           f'{sorted(checkpoint)}')
        state_dict = checkpoint[state_dict_key]
    elif checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        state_dict = checkpoint
    else:
        found = [k for k in STATE_DICT_KEYS
                 if isinstance(checkpoint.get(k), Mapping)]
        if not found:
            raise KeyError(
                f'no weights found in checkpoint: expected a state dict or '
                f'one of {list(STATE_DICT_KEYS)}, got entries '
                f'{sorted(checkpoint)[:20]}')
        state_dict = checkpoint[found[0]]
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def _strip_prefix(state_dict, prefix):
    stripped = {k[len(prefix):]: v for k, v in state_dict.items()
                if k.startswith(prefix)}
    if not stripped:
        raise KeyError(f'no key starts with prefix {prefix!r}; first keys: '
                       f'{list(state_dict)[:5]}')
    return stripped


def load_backbone_weights(model, filename, prefix=None, state_dict_key=None,
                          logger='current'):
    """Load a released or mmmamba-layout checkpoint into ``model``.

    Every model tensor must be found with the right shape and every
    checkpoint tensor must find a place (BatchNorm ``num_batches_tracked``
    counters may be absent); otherwise nothing is loaded and an error lists
    the offending keys.
    """
    state_dict = extract_state_dict(load_checkpoint_file(filename),
                                    state_dict_key)
    if prefix:
        state_dict = _strip_prefix(state_dict, prefix)
    official = is_official_layout(state_dict)
    dropped = [k for k in state_dict if official and
               k.startswith('classifier.')]
    state_dict = convert_official_a2mamba(state_dict)

    own = model.state_dict()
    missing = [k for k in own if k not in state_dict
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f'{k}: checkpoint {tuple(v.shape)} vs model '
                  f'{tuple(own[k].shape)}' for k, v in state_dict.items()
                  if k in own and v.shape != own[k].shape]
    if missing or unexpected or mismatched:
        hint = (" (a detector/segmentor checkpoint needs prefix='backbone.')"
                if any(k.startswith('backbone.') for k in state_dict) else '')
        raise RuntimeError(
            f'{filename} does not fit {type(model).__name__}'
            f'({getattr(model, "arch_name", "")}){hint}: '
            f'{len(missing)} missing {missing[:10]}, '
            f'{len(unexpected)} unexpected {unexpected[:10]}, '
            f'{len(mismatched)} shape mismatches {mismatched[:10]}. '
            f'Is the checkpoint for another arch?')
    model.load_state_dict(state_dict, strict=False)
    layout = 'released A2Mamba' if official else 'mmmamba'
    print_log(f'loaded {len(state_dict)} tensors ({layout} layout) from '
              f'{filename}' + (f'; dropped {len(dropped)} classifier tensors'
                               if dropped else ''), logger=logger)
