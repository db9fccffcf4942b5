"""Safe, loud loading of backbone weights from a checkpoint file.

Files are read with ``torch.load(weights_only=True)``. The objects a timm
training script stores next to the weights (an ``argparse.Namespace`` of the
training arguments, numpy scalars for metrics) are allowed for the duration
of one load only; the global allow-list is left untouched.
"""
import argparse
import hashlib
import os
import pickle
import re
import urllib.parse
from collections.abc import Mapping

import numpy as np
import torch
from mmengine.logging import print_log

from .ckpt_convert import convert_official_a2mamba, is_official_layout

__all__ = ['describe_mismatch', 'extract_state_dict', 'fetch_checkpoint',
           'is_url', 'load_backbone_weights', 'load_checkpoint_file',
           'url_cache_path']

# where wrappers keep the weights, in order of preference
STATE_DICT_KEYS = ('state_dict', 'model', 'module', 'state_dict_ema',
                   'model_ema')


def _training_metadata_globals():
    """Classes a timm checkpoint's metadata may pickle (no code runs), less
    those already allow-listed: leaving ``safe_globals`` removes what it
    added, which would drop them from the global allow-list too."""
    scalar = getattr(np, '_core', getattr(np, 'core', None)).multiarray.scalar
    dtypes = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64,
                                          np.int32, np.bool_)]
    allowed = torch.serialization.get_safe_globals()
    return [g for g in (argparse.Namespace, scalar, np.dtype, *dtypes)
            if g not in allowed]


def is_url(filename):
    """True for the http(s) addresses :func:`load_checkpoint_file` fetches."""
    return str(filename).startswith(('http://', 'https://'))


def _download(url, path):
    try:
        torch.hub.download_url_to_file(url, path, progress=False)
    except (OSError, ValueError) as err:  # URLError / HTTPError are OSErrors
        if getattr(err, 'code', None):  # HTTPError
            reason = f'HTTP {err.code} {err.reason}'
        else:  # URLError wraps the socket error
            reason = getattr(err, 'reason', None) or err
        raise RuntimeError(
            f'could not download checkpoint {url} ({reason}); check the '
            f'address and the network, or download the file yourself and '
            f'give its local path instead') from err


def url_cache_path(url):
    """Where the file at ``url`` is kept once downloaded:
    ``<torch hub dir>/checkpoints/<first 16 hex of sha256(url)>-<name>``.

    The whole URL is in the name, so two URLs that end in the same file
    name never share (or silently reuse) a cached file.
    """
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise ValueError(f'checkpoint URL {url!r} names no file')
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return os.path.join(torch.hub.get_dir(), 'checkpoints', f'{key}-{name}')


def fetch_checkpoint(url):
    """Local copy of the checkpoint at ``url`` (downloaded once, to
    :func:`url_cache_path`).

    torch.hub writes the download to a temporary file and renames it, so an
    interrupted download leaves no partial file under that name. In
    distributed runs rank 0 downloads, the others wait and reuse the file.
    The caller reads it with weights-only unpickling (mmengine's
    ``CheckpointLoader`` would unpickle it fully).
    """
    from mmengine.dist import get_dist_info
    path = url_cache_path(url)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rank, world_size = get_dist_info()
    if rank == 0 and not os.path.isfile(path):
        print_log(f'downloading {url} to {path}', logger='current')
        _download(url, path)
    if world_size > 1:
        torch.distributed.barrier()
        if not os.path.isfile(path):  # another machine than rank 0's
            _download(url, path)
    return path


def _unsupported_global(error):
    """The global the weights-only unpickler refused, or None when the file
    did not name one (not a pickle of torch objects at all)."""
    # torch < 2.13: "Unsupported global: GLOBAL x.y"; torch 2.13 also says
    # "Trying to load unsupported GLOBAL x.y whose module x is blocked"
    match = re.search(r'[Uu]nsupported (?:global: )?GLOBAL (\S+)', str(error))
    return match[1] if match else None


def _short(error):
    """First line of an error message (torch's run over many lines)."""
    text = str(error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:200]


def load_checkpoint_file(filename, map_location='cpu'):
    """Read a checkpoint (a local path or an http(s) URL) with weights-only
    unpickling.

    Raises:
        FileNotFoundError: no such file.
        RuntimeError: not a PyTorch checkpoint, a damaged one, or one that
            stores objects outside the allow-list; the message says which
            and what to do.
    """
    path = fetch_checkpoint(filename) if is_url(filename) else filename
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'checkpoint {filename!r} does not exist; set init_cfg='
            f"dict(type='Pretrained', checkpoint=PATH or URL) to a "
            f'downloaded file or to its http(s) address')
    source = filename if path == filename else f'{filename} ({path})'
    try:
        with torch.serialization.safe_globals(_training_metadata_globals()):
            return torch.load(path, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as err:
        name = _unsupported_global(err)
        if name is None:
            raise RuntimeError(
                f'{source} is not a PyTorch checkpoint (the unpickler '
                f'stopped at its first bytes: {_short(err)}); check that '
                f'the path or URL names the released .pth file') from err
        raise RuntimeError(
            f'{source} stores an object of type {name} next to its weights, '
            f'outside the weights-only allow-list (unpickling it could run '
            f'code from the file), so it was not loaded. Get the checkpoint '
            f'from its official source. Only if you know and trust where '
            f'this file comes from, `python tools/convert_official_ckpt.py '
            f'--trust {path} OUT.pth` rewrites it as plain tensors; then load '
            f'OUT.pth') from err
    except Exception as err:
        if 'PytorchStreamReader' in str(err):
            raise RuntimeError(
                f'{source} is a damaged PyTorch checkpoint ({_short(err)}): '
                f'truncated or corrupted; download it again') from err
        raise RuntimeError(
            f'{source} is not a PyTorch checkpoint ({type(err).__name__}: '
            f'{_short(err)}); check that the path or URL names the released '
            f'.pth file') from err


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


def describe_mismatch(own, state_dict, limit=10):
    """'' when ``state_dict`` fits the model state ``own`` exactly, else
    what does not fit: the counts and first ``limit`` names of the missing,
    unexpected and wrongly shaped tensors. BatchNorm ``num_batches_tracked``
    counters may be absent."""
    missing = [k for k in own if k not in state_dict
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f'{k}: checkpoint {tuple(v.shape)} vs model '
                  f'{tuple(own[k].shape)}' for k, v in state_dict.items()
                  if k in own and hasattr(v, 'shape')
                  and v.shape != own[k].shape]
    if not (missing or unexpected or mismatched):
        return ''
    return (f'{len(missing)} missing {missing[:limit]}, '
            f'{len(unexpected)} unexpected {unexpected[:limit]}, '
            f'{len(mismatched)} shape mismatches {mismatched[:limit]}')


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

    problems = describe_mismatch(model.state_dict(), state_dict)
    if problems:
        hint = (" (a detector/segmentor checkpoint needs prefix='backbone.')"
                if any(k.startswith('backbone.') for k in state_dict) else '')
        raise RuntimeError(
            f'{filename} does not fit {type(model).__name__}'
            f'({getattr(model, "arch_name", "")}){hint}: {problems}. '
            f'Is the checkpoint for another arch?')
    model.load_state_dict(state_dict, strict=False)
    layout = 'released A2Mamba' if official else 'mmmamba'
    print_log(f'loaded {len(state_dict)} tensors ({layout} layout) from '
              f'{filename}' + (f'; dropped {len(dropped)} classifier tensors'
                               if dropped else ''), logger=logger)
