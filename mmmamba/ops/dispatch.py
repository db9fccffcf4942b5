"""One dispatch for the mmmamba operators: which backend runs each call.

Backends, per call (the first tensor argument's device decides):

- CPU tensors: ``cpu`` (the C++ kernels in the compiled extension
  ``mmmamba._C``) when it is built, else ``reference`` (pure PyTorch).
- CUDA tensors: ``cuda`` (CUDA kernels linked into ``mmmamba._C``) when
  built, else ``triton`` when available, else ``reference``.
- any other device (meta, ...): ``reference``.

``MMMAMBA_OPS_BACKEND=reference|cpu|cuda|triton`` (or the
:func:`use_backend` context manager, which wins over the variable) forces
one backend; forcing one that cannot run the call raises
:class:`BackendUnavailableError` saying how to build it.
:func:`explain_backend` says which backend a call would use and why.

Importing mmmamba never requires the extension: it is imported on the
first call that could use it.
"""
import contextlib
import importlib
import os
from typing import NamedTuple

import torch

from .neighborhood.indexing import check_av_args, check_qk_args
from .neighborhood.reference import na2d_av_reference, na2d_qk_reference
from .selective_scan.reference import (check_scan_args,
                                       selective_scan_states_reference)

ENV_VAR = 'MMMAMBA_OPS_BACKEND'
BACKENDS = ('reference', 'cpu', 'cuda', 'triton')
OPS = ('na2d_qk', 'na2d_av', 'selective_scan_states')
BUILD_HINT = ('build it with `bash tools/setup_env.sh` (or, in an environment '
              'that already has torch, `pip install -e . '
              '--no-build-isolation`)')
CUDA_BUILD_HINT = ('build the CUDA kernels with `MMMAMBA_WITH_CUDA=1 pip '
                   'install -e . --no-build-isolation` on a machine with the '
                   'CUDA toolkit (nvcc)')


class BackendUnavailableError(RuntimeError):
    """A forced backend cannot run this call (not built, wrong device)."""


class Choice(NamedTuple):
    backend: str
    reason: str


_forced_stack = []
_extension_cache = {}


def load_extension():
    """``(module, None)`` if ``mmmamba._C`` imports, else ``(None, error)``."""
    if 'ext' not in _extension_cache:
        try:
            module = importlib.import_module('mmmamba._C')
            _extension_cache['ext'] = (module, None)
        except ImportError as error:  # not built, or built for another torch
            _extension_cache['ext'] = (None, error)
    return _extension_cache['ext']


def extension():
    """The compiled extension; BackendUnavailableError if it is not built."""
    module, error = load_extension()
    if module is None:
        raise BackendUnavailableError(
            f'the compiled extension mmmamba._C is not available ({error}); '
            f'{BUILD_HINT}.')
    return module


def _cuda_built():
    module, _ = load_extension()
    return module is not None and bool(module.has_cuda())


@contextlib.contextmanager
def use_backend(name):
    """Force ``name`` for the calls inside the block (wins over the env)."""
    _validate(name, 'use_backend')
    _forced_stack.append(name)
    try:
        yield
    finally:
        _forced_stack.pop()


def _validate(name, source):
    if name not in BACKENDS:
        raise ValueError(f'{source}: unknown backend {name!r}; choose one of '
                         f'{", ".join(BACKENDS)}.')


def forced_backend():
    """``(name, source)`` of a forced backend, or ``(None, None)``."""
    if _forced_stack:
        return _forced_stack[-1], 'use_backend()'
    name = os.environ.get(ENV_VAR, '').strip().lower()
    if name:
        _validate(name, ENV_VAR)
        return name, f'{ENV_VAR}={name}'
    return None, None


def _device_of(tensors):
    for t in tensors:
        if isinstance(t, torch.Tensor):
            return t.device
    return torch.device('cpu')


def _check_forced(name, source, device):
    """Raise if the forced backend cannot run on ``device``."""
    if name == 'reference':
        return
    if name == 'cpu':
        if device.type != 'cpu':
            raise BackendUnavailableError(
                f'{source}: the cpu backend runs CPU tensors only, got '
                f'{device} tensors.')
        extension()
    elif name == 'cuda':
        if device.type != 'cuda':
            raise BackendUnavailableError(
                f'{source}: the cuda backend runs CUDA tensors only, got '
                f'{device} tensors.')
        extension()
        if not _cuda_built():
            raise BackendUnavailableError(
                f'{source}: mmmamba._C was built without CUDA kernels; '
                f'{CUDA_BUILD_HINT}.')
    elif name == 'triton':
        raise BackendUnavailableError(
            f'{source}: Triton kernels are not part of this version of '
            f'mmmamba (not implemented yet); use cuda, cpu or reference.')


def explain_backend(op, *tensors):
    """Which backend a call of ``op`` on ``tensors`` would use, and why.

    Returns a :class:`Choice` ``(backend, reason)``. Raises
    BackendUnavailableError when a forced backend cannot run the call.
    """
    if op not in OPS:
        raise ValueError(f'explain_backend: unknown op {op!r}; choose one '
                         f'of {", ".join(OPS)}.')
    device = _device_of(tensors)
    name, source = forced_backend()
    if name is not None:
        _check_forced(name, source, device)
        return Choice(name, f'forced by {source}')
    if device.type == 'cpu':
        module, error = load_extension()
        if module is not None:
            return Choice('cpu', 'CPU tensors: C++ kernels of mmmamba._C')
        return Choice('reference', f'CPU tensors, but mmmamba._C is not '
                      f'available ({error}); {BUILD_HINT}')
    if device.type == 'cuda':
        if _cuda_built():
            return Choice('cuda', 'CUDA tensors: CUDA kernels of mmmamba._C')
        return Choice('reference', 'CUDA tensors, but mmmamba._C has no CUDA '
                      f'kernels ({CUDA_BUILD_HINT}) and Triton kernels are '
                      'not implemented yet')
    return Choice('reference', f'{device.type} tensors: only the reference '
                  'runs on this device')


def _unsupported(op, backend):
    raise BackendUnavailableError(
        f'{op}: the {backend} backend has no implementation in this build; '
        f'{CUDA_BUILD_HINT}.')


def na2d_qk(query, key, kernel_size, dilation=1, rpb=None):
    """Neighborhood attention logits; see :func:`na2d_qk_reference`."""
    kernel, dil = check_qk_args(query, key, kernel_size, dilation, rpb)
    backend = explain_backend('na2d_qk', query, key).backend
    if backend == 'reference':
        return na2d_qk_reference(query, key, kernel, dil, rpb)
    if backend == 'cpu':
        from .neighborhood.cpu_cuda import na2d_qk_cpu
        return na2d_qk_cpu(query, key, kernel, dil, rpb)
    _unsupported('na2d_qk', backend)


def na2d_av(attn, value, kernel_size, dilation=1):
    """Neighborhood attention output; see :func:`na2d_av_reference`."""
    kernel, dil = check_av_args(attn, value, kernel_size, dilation)
    backend = explain_backend('na2d_av', attn, value).backend
    if backend == 'reference':
        return na2d_av_reference(attn, value, kernel, dil)
    if backend == 'cpu':
        from .neighborhood.cpu_cuda import na2d_av_cpu
        return na2d_av_cpu(attn, value, kernel, dil)
    _unsupported('na2d_av', backend)


def selective_scan_states(u, delta, A, B, delta_bias=None,
                          delta_softplus=True):
    """All scan states; see :func:`selective_scan_states_reference`."""
    check_scan_args(u, delta, A, B, delta_bias)
    backend = explain_backend('selective_scan_states', u).backend
    if backend == 'reference':
        return selective_scan_states_reference(u, delta, A, B, delta_bias,
                                               delta_softplus)
    if backend == 'cpu':
        from .selective_scan.cpu_cuda import selective_scan_states_cpu
        return selective_scan_states_cpu(u, delta, A, B, delta_bias,
                                         delta_softplus)
    _unsupported('selective_scan_states', backend)
