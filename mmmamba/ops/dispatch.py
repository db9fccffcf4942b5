"""One dispatch for the mmmamba operators: which backend runs each call.

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
  operators and no ``mmmamba::`` custom op; the scan then runs its
  matmul formulation (:mod:`.selective_scan.matmul_scan`, the same
  recurrence with no unrolled loop).

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
:func:`explain_backend` says which backend a call would use and why.

Kernel backends run through the ``torch.library`` custom ops of
:mod:`.library` (autograd, fake tensors, ``torch.compile``). Importing
mmmamba never requires the extension or Triton: they are imported on the
first call that could use them.
"""
import contextlib
import importlib
import importlib.util
import logging
import os
from typing import NamedTuple

import torch

from .neighborhood.aggregate import (a2ssm_aggregate_reference,
                                     check_aggregate_args)
from .neighborhood.indexing import check_av_args, check_qk_args
from .neighborhood.reference import na2d_av_reference, na2d_qk_reference
from .selective_scan.matmul_scan import selective_scan_states_matmul
from .selective_scan.reference import (check_scan_args,
                                       selective_scan_states_reference)

ENV_VAR = 'MMMAMBA_OPS_BACKEND'
BACKENDS = ('reference', 'cpu', 'cuda', 'triton', 'cuda_host')
OPS = ('na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate')
# the forward function of each op in the kernel modules (mmmamba.ops.kernels)
KERNEL_NAMES = {
    'na2d_qk': 'na2d_qk_forward',
    'na2d_av': 'na2d_av_forward',
    'selective_scan_states': 'selective_scan_forward',
    'a2ssm_aggregate': 'a2ssm_aggregate_forward',
}
BUILD_HINT = ('build it with `bash tools/setup_env.sh` (or, in an environment '
              'that already has torch, `pip install -e . '
              '--no-build-isolation`)')
CUDA_BUILD_HINT = ('build the CUDA kernels with `MMMAMBA_WITH_CUDA=1 pip '
                   'install -e . --no-build-isolation` on a machine with the '
                   'CUDA toolkit (nvcc)')
CUDA_ARCH_HINT = ('rebuild them for it with `TORCH_CUDA_ARCH_LIST=<major.minor> '
                  'MMMAMBA_WITH_CUDA=1 pip install -e . --no-build-isolation`')
CUDA_HOST_HINT = ('build it with `bash tools/setup_env.sh` (or '
                  '`MMMAMBA_BUILD_CUDA_HOST=1 pip install -e . '
                  '--no-build-isolation`)')
TRITON_HINT = '`pip install triton` (a CUDA GPU runs its kernels)'


class BackendUnavailableError(RuntimeError):
    """A forced backend cannot run this call (not built, wrong device)."""


class Choice(NamedTuple):
    backend: str
    reason: str


_forced_stack = []
_extension_cache = {}
logger = logging.getLogger(__name__)


def assume_constant_result(fn):
    """``torch.compiler.assume_constant_result``, without importing
    ``torch._dynamo`` (and with it Triton: seconds) when mmmamba is
    imported; Dynamo reads the same attribute when it traces ``fn``."""
    fn._dynamo_marked_constant = True
    return fn


def load_extension():
    """``(module, None)`` if ``mmmamba._C`` imports, else ``(None, error)``.

    The first failure logs one WARNING: calls on CPU tensors then run the
    (much slower) reference operators.
    """
    if 'ext' not in _extension_cache:
        try:
            module = importlib.import_module('mmmamba._C')
            _extension_cache['ext'] = (module, None)
        except ImportError as error:  # not built, or built for another torch
            _extension_cache['ext'] = (None, error)
            logger.warning(
                'mmmamba._C could not be loaded (%s): the operators fall back '
                'to the pure-PyTorch reference on CPU (several times slower); '
                '%s', error, BUILD_HINT)
    return _extension_cache['ext']


@assume_constant_result
def _extension_error():
    """'' if ``mmmamba._C`` imports, else why not (a constant for Dynamo)."""
    module, error = load_extension()
    return '' if module is not None else str(error)


def _require_extension():
    error = _extension_error()
    if error:
        raise BackendUnavailableError(
            f'the compiled extension mmmamba._C is not available ({error}); '
            f'{BUILD_HINT}.')


def extension():
    """The compiled extension; BackendUnavailableError if it is not built."""
    _require_extension()
    return load_extension()[0]


@assume_constant_result
def _cuda_built():
    module, _ = load_extension()
    return module is not None and bool(module.has_cuda())


def _cuda_image_error(device):
    """'' if the CUDA build has a kernel image for ``device``'s GPU, else
    why not (asked once per device; the first miss logs a warning)."""
    index = torch.cuda.current_device() if device.index is None else device.index
    key = ('cuda_image', index)
    if key not in _extension_cache:
        with torch.cuda.device(index):
            status = load_extension()[0].cuda_kernel_image_status()
        error = ''
        if status != 0:
            major, minor = torch.cuda.get_device_capability(index)
            error = (f'mmmamba._C has no CUDA kernel image for GPU {index} '
                     f'(sm_{major}{minor}): '
                     f'{load_extension()[0].cuda_error_string(status)}; '
                     f'{CUDA_ARCH_HINT.replace("<major.minor>", f"{major}.{minor}")}')
            logger.warning('%s. Falling back to the next backend.', error)
        _extension_cache[key] = error
    return _extension_cache[key]


def load_cuda_host_extension():
    """``(module, None)`` if ``mmmamba._C_cuda_host`` imports, else
    ``(None, error)``."""
    if 'cuda_host' not in _extension_cache:
        try:
            module = importlib.import_module('mmmamba._C_cuda_host')
            _extension_cache['cuda_host'] = (module, None)
        except ImportError as error:
            _extension_cache['cuda_host'] = (None, error)
    return _extension_cache['cuda_host']


def cuda_host_extension():
    """The host build of the CUDA kernels; BackendUnavailableError if it is
    not built."""
    module, error = load_cuda_host_extension()
    if module is None:
        raise BackendUnavailableError(
            f'the cuda_host backend needs mmmamba._C_cuda_host, which is not '
            f'available ({error}); {CUDA_HOST_HINT}.')
    return module


@assume_constant_result
def _triton_installed():
    if 'triton' not in _extension_cache:
        _extension_cache['triton'] = (
            importlib.util.find_spec('triton') is not None)
    return _extension_cache['triton']


def _triton_interpreted():
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


@assume_constant_result
def _has_kernel(backend, op):
    """Whether ``backend``'s kernel module implements ``op``."""
    from .library import backend_module
    return hasattr(backend_module(backend), KERNEL_NAMES[op])


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
        _require_extension()
    elif name == 'cuda':
        _require_device(name, source, device, 'cuda')
        _require_extension()
        if not _cuda_built():
            raise BackendUnavailableError(
                f'{source}: mmmamba._C was built without CUDA kernels; '
                f'{CUDA_BUILD_HINT}.')
        error = _cuda_image_error(device)
        if error:
            raise BackendUnavailableError(f'{source}: {error}.')
    elif name == 'cuda_host':
        _require_device(name, source, device, 'cpu')
        cuda_host_extension()
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
    if op not in OPS:
        raise ValueError(f'explain_backend: unknown op {op!r}; choose one '
                         f'of {", ".join(OPS)}.')
    device = _device_of(tensors)
    name, source = forced_backend()
    if name is None and torch.onnx.is_in_onnx_export():
        return Choice('reference', 'ONNX export: the reference formulation '
                      'exports to standard ONNX operators')
    if name is not None:
        _check_forced(name, source, device)
        if name != 'reference' and not _has_kernel(name, op):
            return Choice('reference', f'forced {name} by {source}, which '
                          f'has no {op} kernel: the reference runs it')
        return Choice(name, f'forced by {source}')
    if device.type == 'cpu':
        error = _extension_error()
        if not error:
            return Choice('cpu', 'CPU tensors: C++ kernels of mmmamba._C')
        return Choice('reference', f'CPU tensors, but mmmamba._C is not '
                      f'available ({error}); {BUILD_HINT}')
    if device.type == 'cuda':
        if not _cuda_built():
            no_cuda = f'mmmamba._C has no CUDA kernels ({CUDA_BUILD_HINT})'
        else:
            no_cuda = _cuda_image_error(device)
            if not no_cuda:
                return Choice('cuda', 'CUDA tensors: CUDA kernels of '
                              'mmmamba._C')
        if _triton_installed() and _has_kernel('triton', op):
            return Choice('triton', f'CUDA tensors, {no_cuda}: Triton kernels')
        missing = ('Triton has no kernel for this op' if _triton_installed()
                   else f'Triton is not installed ({TRITON_HINT})')
        return Choice('reference', f'CUDA tensors, but {no_cuda} and '
                      f'{missing}')
    return Choice('reference', f'{device.type} tensors: only the reference '
                  'runs on this device')


def _ops():
    # torch.ops.mmmamba.* exist once mmmamba.ops.library is imported
    from . import library  # noqa: F401
    return torch.ops.mmmamba


def na2d_qk(query, key, kernel_size, dilation=1, rpb=None):
    """Neighborhood attention logits; see :func:`na2d_qk_reference`."""
    kernel, dil = check_qk_args(query, key, kernel_size, dilation, rpb)
    backend = explain_backend('na2d_qk', query, key).backend
    if backend == 'reference':
        return na2d_qk_reference(query, key, kernel, dil, rpb)
    return _ops().na2d_qk(query, key, rpb, list(kernel), list(dil), backend)


def na2d_av(attn, value, kernel_size, dilation=1):
    """Neighborhood attention output; see :func:`na2d_av_reference`."""
    kernel, dil = check_av_args(attn, value, kernel_size, dilation)
    backend = explain_backend('na2d_av', attn, value).backend
    if backend == 'reference':
        return na2d_av_reference(attn, value, kernel, dil)
    return _ops().na2d_av(attn, value, list(kernel), list(dil), backend)


def selective_scan_states(u, delta, A, B, delta_bias=None,
                          delta_softplus=True):
    """All scan states; see :func:`selective_scan_states_reference`."""
    check_scan_args(u, delta, A, B, delta_bias)
    backend = explain_backend('selective_scan_states', u).backend
    if backend == 'reference':
        scan = (selective_scan_states_matmul if torch.onnx.is_in_onnx_export()
                else selective_scan_states_reference)
        return scan(u, delta, A, B, delta_bias, delta_softplus)
    if B.dim() == 4:
        B = B.squeeze(1)  # batch, N, L
    return _ops().selective_scan_states(u, delta, A, B, delta_bias,
                                        bool(delta_softplus), backend)


def a2ssm_aggregate(attn_local, attn_dilated, states, kernel_size, dilation):
    """Fused A2SSM aggregation; see :func:`a2ssm_aggregate_reference`."""
    kernel, dil = check_aggregate_args(attn_local, attn_dilated, states,
                                       kernel_size, dilation)
    backend = explain_backend('a2ssm_aggregate', states).backend
    if backend == 'reference':
        return a2ssm_aggregate_reference(attn_local, attn_dilated, states,
                                         kernel, dil)
    return _ops().a2ssm_aggregate(attn_local, attn_dilated, states, kernel[0],
                                  list(dil), backend)
