"""Which backend runs each call of an mmmamba operator, and why.

Backends, per call (the first tensor argument's device decides):

- CPU tensors: ``cpu`` (the C++ kernels of the compiled extension
  ``mmmamba._C``) when it is built, else ``reference`` (pure PyTorch).
- CUDA tensors: ``cuda`` (CUDA kernels linked into ``mmmamba._C``) when
  built with a kernel image for the GPU, else ``triton`` when Triton is
  installed and has a kernel for the op, else ``reference``. A GPU the
  CUDA build has no image for logs one warning and takes the next choice.
- any other device (meta, ...): ``reference``.
- while exporting to ONNX (``torch.onnx.is_in_onnx_export()``):
  ``reference``, whatever the device, so that the graph holds standard ONNX
  operators and no ``mmmamba::`` custom op.

``MMMAMBA_OPS_BACKEND=reference|cpu|cuda|triton|cuda_host`` (or the
:func:`use_backend` context manager, which wins over the variable) forces
one backend (a kernel backend cannot be exported: forcing one during an ONNX
export raises); forcing one that cannot run the call raises
:class:`BackendUnavailableError` saying how to build it. A forced backend
without a kernel for an op (Triton has none for ``na2d_qk``) runs that op
on the reference, and says so. The Triton kernels also run CPU tensors
under ``TRITON_INTERPRET=1`` when forced (how they are tested without a
GPU). ``cuda_host`` (the CUDA kernels compiled for the host over a CUDA
emulation, ``mmmamba._C_cuda_host``, CPU tensors) is never chosen unless
forced: it exists to run the CUDA kernel code in tests without a GPU.

The ops and their kernels are the table of :mod:`.registry`; importing
mmmamba never requires the extension or Triton: they are imported on the
first call that could use them.
"""
import contextlib
import importlib.util
import os
from typing import NamedTuple

import torch

from . import extension
from .extension import BackendUnavailableError
from .registry import BACKENDS, get_op, has_kernel

ENV_VAR = 'MMMAMBA_OPS_BACKEND'
TRITON_HINT = '`pip install triton` (a CUDA GPU runs its kernels)'

__all__ = ['Choice', 'explain_backend', 'use_backend', 'forced_backend',
           'choose_backend', 'BackendUnavailableError', 'ENV_VAR']


class Choice(NamedTuple):
    """A backend and the reason it runs a call."""
    backend: str
    reason: str


_forced_stack = []
_triton_found = []


def assume_constant_result(fn):
    """``torch.compiler.assume_constant_result``, without importing
    ``torch._dynamo`` (and with it Triton: seconds) when mmmamba is
    imported; Dynamo reads the same attribute when it traces ``fn``."""
    fn._dynamo_marked_constant = True
    return fn


# What Dynamo treats as constants while it traces a model that calls the ops.
_extension_error = assume_constant_result(extension.extension_error)
_cuda_built = assume_constant_result(extension.cuda_built)
_cpu_isa = assume_constant_result(extension.cpu_isa)
_has_kernel = assume_constant_result(has_kernel)


@assume_constant_result
def _triton_installed():
    if not _triton_found:
        _triton_found.append(importlib.util.find_spec('triton') is not None)
    return _triton_found[0]


def _triton_interpreted():
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


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


def _require_device(name, source, device, expected):
    if device.type != expected:
        raise BackendUnavailableError(
            f'{source}: the {name} backend runs {expected.upper()} tensors '
            f'only, got {device} tensors.')


def _check_forced(name, source, device):
    """Raise if the forced backend cannot run on ``device``."""
    if name == 'reference':
        return
    if torch.onnx.is_in_onnx_export():
        raise BackendUnavailableError(
            f'{source}: the {name} kernels cannot be exported to ONNX (only '
            f'the reference formulation exports); unset {ENV_VAR} or force '
            f'reference.')
    if name == 'cpu':
        _require_device(name, source, device, 'cpu')
        extension.require_extension()
    elif name == 'cuda':
        _require_device(name, source, device, 'cuda')
        extension.require_extension()
        if not _cuda_built():
            raise BackendUnavailableError(
                f'{source}: mmmamba._C was built without CUDA kernels; '
                f'{extension.CUDA_BUILD_HINT}.')
        error = extension.cuda_image_error(device)
        if error:
            raise BackendUnavailableError(f'{source}: {error}.')
    elif name == 'cuda_host':
        _require_device(name, source, device, 'cpu')
        extension.require_cuda_host_extension()
    elif name == 'triton':
        if not _triton_installed():
            raise BackendUnavailableError(
                f'{source}: Triton is not installed; {TRITON_HINT}.')
        if device.type != 'cuda' and not (device.type == 'cpu' and
                                          _triton_interpreted()):
            raise BackendUnavailableError(
                f'{source}: the triton backend runs CUDA tensors (or CPU '
                f'tensors with TRITON_INTERPRET=1), got {device} tensors.')


def explain_backend(op, *tensors):
    """Which backend a call of ``op`` on ``tensors`` would use, and why.

    Returns a :class:`Choice` ``(backend, reason)``. Raises
    BackendUnavailableError when a forced backend cannot run the call.
    """
    get_op(op)  # ValueError for an unknown op
    device = _device_of(tensors)
    name, source = forced_backend()
    if name is None and torch.onnx.is_in_onnx_export():
        return Choice('reference', 'ONNX export: the reference formulation '
                      'exports to standard ONNX operators')
    if name is not None:
        _check_forced(name, source, device)
        if name != 'reference' and not _has_kernel(op, name):
            return Choice('reference', f'forced {name} by {source}, which '
                          f'has no {op} kernel: the reference runs it')
        return Choice(name, f'forced by {source}')
    if device.type == 'cpu':
        error = _extension_error()
        if not error:
            return Choice('cpu', f'CPU tensors: C++ kernels of mmmamba._C, '
                          f'{_cpu_isa()} variant')
        return Choice('reference', f'CPU tensors, but mmmamba._C is not '
                      f'available ({error}); {extension.BUILD_HINT}')
    if device.type == 'cuda':
        if not _cuda_built():
            no_cuda = (f'mmmamba._C has no CUDA kernels '
                       f'({extension.CUDA_BUILD_HINT})')
        else:
            no_cuda = extension.cuda_image_error(device)
            if not no_cuda:
                return Choice('cuda', 'CUDA tensors: CUDA kernels of '
                              'mmmamba._C')
        if _triton_installed() and _has_kernel(op, 'triton'):
            return Choice('triton', f'CUDA tensors, {no_cuda}: Triton kernels')
        missing = ('Triton has no kernel for this op' if _triton_installed()
                   else f'Triton is not installed ({TRITON_HINT})')
        return Choice('reference', f'CUDA tensors, but {no_cuda} and '
                      f'{missing}')
    return Choice('reference', f'{device.type} tensors: only the reference '
                  'runs on this device')


def choose_backend(op, *tensors):
    """The backend name :func:`explain_backend` picks (what the public op
    functions call)."""
    return explain_backend(op, *tensors).backend
