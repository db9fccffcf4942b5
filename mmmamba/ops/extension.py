"""The compiled extensions and the three backends that run them.

``mmmamba._C`` holds the C++ CPU kernels of ``csrc/`` and, when built with
CUDA, the CUDA launchers (its ``cuda_*`` functions); ``mmmamba._C_cuda_host``
holds the same CUDA launchers and kernels compiled for the host over a CUDA
emulation (a test build, CPU tensors). Both bind every op with one argument
list (``csrc/bindings.cpp``); the CUDA functions take the stream last.

A :class:`CompiledBackend` is what an op's compiled kernel call sees: the
dtypes the kernels read (:meth:`~CompiledBackend.dtype`) and how to call one
of them (:meth:`~CompiledBackend.run`). Importing this module imports
neither extension: they load on the first call that needs them.
"""
import importlib
import logging

import torch

from .dtypes import kernel_dtype

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

logger = logging.getLogger(__name__)
_cache = {}


class BackendUnavailableError(RuntimeError):
    """A forced backend cannot run this call (not built, wrong device)."""


def load_extension():
    """``(module, None)`` if ``mmmamba._C`` imports, else ``(None, error)``.

    The first failure logs one WARNING: calls on CPU tensors then run the
    (much slower) reference operators.
    """
    if 'ext' not in _cache:
        try:
            _cache['ext'] = (importlib.import_module('mmmamba._C'), None)
        except ImportError as error:  # not built, or built for another torch
            _cache['ext'] = (None, error)
            logger.warning(
                'mmmamba._C could not be loaded (%s): the operators fall back '
                'to the pure-PyTorch reference on CPU (several times slower); '
                '%s', error, BUILD_HINT)
    return _cache['ext']


def extension_error():
    """'' if ``mmmamba._C`` imports, else why not."""
    module, error = load_extension()
    return '' if module is not None else str(error)


def cpu_isa():
    """The instruction-set variant the CPU kernels run ('avx512', 'avx2' or
    'baseline'; csrc/common/isa.h)."""
    return require_extension()._cpu_isa()


def require_extension():
    """``mmmamba._C``; BackendUnavailableError saying how to build it."""
    error = extension_error()
    if error:
        raise BackendUnavailableError(
            f'the compiled extension mmmamba._C is not available ({error}); '
            f'{BUILD_HINT}.')
    return load_extension()[0]


def cuda_built():
    """Whether ``mmmamba._C`` imports and holds the CUDA kernels."""
    module, _ = load_extension()
    return module is not None and bool(module.has_cuda())


def cuda_image_error(device):
    """'' if the CUDA build has a kernel image for ``device``'s GPU, else
    why not (asked once per device; the first miss logs a warning)."""
    index = torch.cuda.current_device() if device.index is None else device.index
    key = ('cuda_image', index)
    if key not in _cache:
        module = load_extension()[0]
        with torch.cuda.device(index):
            status = module.cuda_kernel_image_status()
        error = ''
        if status != 0:
            major, minor = torch.cuda.get_device_capability(index)
            arch_hint = CUDA_ARCH_HINT.replace('<major.minor>',
                                               f'{major}.{minor}')
            error = (f'mmmamba._C has no CUDA kernel image for GPU {index} '
                     f'(sm_{major}{minor}): '
                     f'{module.cuda_error_string(status)}; {arch_hint}')
            logger.warning('%s. Falling back to the next backend.', error)
        _cache[key] = error
    return _cache[key]


def require_cuda_host_extension():
    """``mmmamba._C_cuda_host``; BackendUnavailableError if not built."""
    if 'cuda_host' not in _cache:
        try:
            _cache['cuda_host'] = (
                importlib.import_module('mmmamba._C_cuda_host'), None)
        except ImportError as error:
            _cache['cuda_host'] = (None, error)
    module, error = _cache['cuda_host']
    if module is None:
        raise BackendUnavailableError(
            f'the cuda_host backend needs mmmamba._C_cuda_host, which is not '
            f'available ({error}); {CUDA_HOST_HINT}.')
    return module


class CompiledBackend:
    """How the compiled kernels of one backend are called.

    Args:
        name: ``cpu``, ``cuda`` or ``cuda_host``.
        dtypes: the kernel dtypes ``T`` its kernels read.
        call: ``call(function, device, *args)`` runs the extension function
            named ``function`` (the op's binding name) on ``args``.
    """

    def __init__(self, name, dtypes, call):
        self.name = name
        self.dtypes = dtypes
        self._call = call

    def dtype(self, *tensors):
        """The kernel dtype ``T`` for these tensors (see :mod:`.dtypes`)."""
        return kernel_dtype(tensors, self.dtypes)

    def run(self, function, device, *args):
        """Run extension function ``function`` on ``args`` (contiguous
        tensors of the kernel dtypes) for tensors on ``device``."""
        return self._call(function, device, *args)


def _run_cpu(function, device, *args):
    return getattr(require_extension(), function)(*args)


def _run_cuda(function, device, *args):
    # the launchers run on the current device and the stream passed to them
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device).cuda_stream
        return getattr(require_extension(), f'cuda_{function}')(*args, stream)


def _run_cuda_host(function, device, *args):
    return getattr(require_cuda_host_extension(), f'cuda_{function}')(*args, 0)


_CUDA_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
_BACKENDS = {
    'cpu': CompiledBackend('cpu', (torch.float32, torch.float64), _run_cpu),
    'cuda': CompiledBackend('cuda', _CUDA_DTYPES, _run_cuda),
    'cuda_host': CompiledBackend('cuda_host', _CUDA_DTYPES, _run_cuda_host),
}


def compiled_backend(name):
    """The :class:`CompiledBackend` called ``name``."""
    return _BACKENDS[name]
