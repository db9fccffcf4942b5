"""The one table of the mmmamba operators: each op and its implementations.

An op package (``mmmamba/ops/<op>/``) registers itself with
:func:`register_op` when it is imported: its name, its pure-PyTorch
reference, its calls into the compiled kernels (one pair of functions
serving the three compiled backends ``cpu``, ``cuda`` and ``cuda_host``,
which differ only in how they launch, see :mod:`.extension`) and, where
Triton has a kernel for it, the module that holds it. Adding an op is one
package plus its kernels; the dispatch (:mod:`.dispatch`), the
``torch.library`` custom ops and ``explain_backend`` read this table.

Kernel contract (every backend): ``forward(*inputs)`` and
``backward(grad, *inputs[, output])`` take arguments already checked by
the op's ``checks`` module (tensors of any strides and any float dtype) and
return results in the dtypes documented by the op's ``library`` module.
"""
import functools
import importlib
from typing import Callable, NamedTuple, Optional

import torch

BACKENDS = ('reference', 'cpu', 'cuda', 'triton', 'cuda_host')
# the backends that run the compiled kernels of csrc/ (mmmamba._C and
# mmmamba._C_cuda_host)
COMPILED_BACKENDS = ('cpu', 'cuda', 'cuda_host')

__all__ = ['BACKENDS', 'COMPILED_BACKENDS', 'Op', 'register_op', 'op_names',
           'get_op', 'has_kernel', 'kernels']


class Op(NamedTuple):
    """One operator's entry in the table."""
    name: str
    reference: Callable
    # forward(backend, *inputs) / backward(backend, grad, ...) over
    # mmmamba.ops.extension.CompiledBackend
    compiled_forward: Callable
    compiled_backward: Callable
    # module with <name>_forward / <name>_backward Triton kernels, or None
    triton_module: Optional[str] = None


_OPS = {}


def register_op(op):
    """Add ``op`` (an :class:`Op`) to the table; returns it."""
    if op.name in _OPS:
        raise ValueError(f'mmmamba op {op.name!r} is registered twice.')
    _OPS[op.name] = op
    return op


def op_names():
    """The registered ops' names, in registration order."""
    return tuple(_OPS)


def get_op(name):
    """The :class:`Op` called ``name``; ValueError naming the choices."""
    if name not in _OPS:
        raise ValueError(f'unknown mmmamba op {name!r}; choose one of '
                         f'{", ".join(_OPS)}.')
    return _OPS[name]


def has_kernel(name, backend):
    """Whether ``backend`` (not ``reference``) has a kernel for ``name``."""
    op = get_op(name)
    return backend in COMPILED_BACKENDS or (backend == 'triton' and
                                            op.triton_module is not None)


def _dense(tensor):
    """``tensor`` contiguous, or channels-last where it is a channels-last
    map (the custom ops promise one of the two, see their fakes)."""
    if tensor.dim() == 4 and tensor.is_contiguous(
            memory_format=torch.channels_last):
        return tensor
    return tensor.contiguous()


def _contiguous(out):
    """The custom ops promise dense results (see :func:`_dense`)."""
    if out is None or not isinstance(out, (tuple, list)):
        return None if out is None else _dense(out)
    return tuple(None if t is None else _dense(t) for t in out)


def _returning_contiguous(function):
    def run(*args):
        return _contiguous(function(*args))
    return run


@functools.lru_cache(maxsize=None)
def kernels(name, backend):
    """``(forward, backward)`` of ``backend``'s kernel for op ``name``,
    returning contiguous (or channels-last) tensors. Imports the backend on first use; looked
    up once per (op, backend), since every custom-op call asks."""
    op = get_op(name)
    if backend in COMPILED_BACKENDS:
        from .extension import compiled_backend
        target = compiled_backend(backend)
        forward = functools.partial(op.compiled_forward, target)
        backward = functools.partial(op.compiled_backward, target)
    elif has_kernel(name, backend):
        module = importlib.import_module(op.triton_module)
        forward = getattr(module, f'{name}_forward')
        backward = getattr(module, f'{name}_backward')
    else:
        raise ValueError(f'the {backend} backend has no kernel for {name}.')
    return _returning_contiguous(forward), _returning_contiguous(backward)
