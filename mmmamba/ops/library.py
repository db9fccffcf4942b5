"""``torch.library`` custom ops over the kernel backends.

Each operator is a pair of custom ops, ``mmmamba::<op>`` and
``mmmamba::<op>_backward``, whose implementation runs the backend named by
their last argument (``cpu``, ``cuda``, ``triton`` or ``cuda_host``, see
:mod:`mmmamba.ops.kernels`). Autograd is registered from one to the other,
and fake (meta) implementations give output shapes and dtypes without
running a kernel, so ``torch.compile(fullgraph=True)`` traces models that
call the ops and FakeTensor / meta propagation works. The reference backend
is plain differentiable torch code and needs no custom op.
"""
import importlib
from typing import List, Optional, Tuple

import torch
from torch import Tensor

BACKEND_MODULES = {
    'cpu': 'mmmamba.ops.kernels.cpu',
    'cuda': 'mmmamba.ops.kernels.cuda',
    'triton': 'mmmamba.ops.kernels.triton',
    'cuda_host': 'mmmamba.ops.kernels.cuda_host',
}


def backend_module(backend):
    """The kernel module of ``backend`` (imports it on first use)."""
    return importlib.import_module(BACKEND_MODULES[backend])


def _kernel(backend, name):
    """``backend``'s ``name`` function, returning contiguous tensors (what
    the fake implementations promise)."""
    function = getattr(backend_module(backend), name)

    def run(*args):
        out = function(*args)
        if isinstance(out, torch.Tensor):
            return out.contiguous()
        return tuple(None if t is None else t.contiguous() for t in out)

    return run


def _empty(like):
    """A contiguous tensor of ``like``'s shape, dtype and device."""
    return like.new_empty(like.shape)


def scan_states_dtype(*tensors):
    """fp32 states, fp64 if any input is fp64 (the scan's contract)."""
    return (torch.float64 if any(t is not None and t.dtype == torch.float64
                                 for t in tensors) else torch.float32)


# na2d_qk ---------------------------------------------------------------------
@torch.library.custom_op('mmmamba::na2d_qk', mutates_args=())
def na2d_qk_op(query: Tensor, key: Tensor, rpb: Optional[Tensor],
               kernel: List[int], dilation: List[int], backend: str) -> Tensor:
    return _kernel(backend, 'na2d_qk_forward')(query, key, rpb, tuple(kernel),
                                               tuple(dilation))


@na2d_qk_op.register_fake
def _(query, key, rpb, kernel, dilation, backend):
    return query.new_empty(*query.shape[:4], kernel[0] * kernel[1])


@torch.library.custom_op('mmmamba::na2d_qk_backward', mutates_args=())
def na2d_qk_backward_op(grad: Tensor, query: Tensor, key: Tensor,
                        rpb: Optional[Tensor], kernel: List[int],
                        dilation: List[int],
                        backend: str) -> Tuple[Tensor, Tensor, Tensor]:
    dq, dk, drpb = _kernel(backend, 'na2d_qk_backward')(
        grad, query, key, rpb, tuple(kernel), tuple(dilation))
    return dq, dk, query.new_empty(0) if drpb is None else drpb


@na2d_qk_backward_op.register_fake
def _(grad, query, key, rpb, kernel, dilation, backend):
    drpb = query.new_empty(0) if rpb is None else _empty(rpb)
    return _empty(query), _empty(key), drpb


def _qk_setup(ctx, inputs, output):
    query, key, rpb, kernel, dilation, backend = inputs
    ctx.save_for_backward(query, key, rpb)
    ctx.args = (kernel, dilation, backend)


def _qk_backward(ctx, grad):
    query, key, rpb = ctx.saved_tensors
    dq, dk, drpb = na2d_qk_backward_op(grad, query, key, rpb, *ctx.args)
    return dq, dk, None if rpb is None else drpb, None, None, None


na2d_qk_op.register_autograd(_qk_backward, setup_context=_qk_setup)


# na2d_av ---------------------------------------------------------------------
@torch.library.custom_op('mmmamba::na2d_av', mutates_args=())
def na2d_av_op(attn: Tensor, value: Tensor, kernel: List[int],
               dilation: List[int], backend: str) -> Tensor:
    return _kernel(backend, 'na2d_av_forward')(attn, value, tuple(kernel),
                                               tuple(dilation))


@na2d_av_op.register_fake
def _(attn, value, kernel, dilation, backend):
    return _empty(value)


@torch.library.custom_op('mmmamba::na2d_av_backward', mutates_args=())
def na2d_av_backward_op(grad: Tensor, attn: Tensor, value: Tensor,
                        kernel: List[int], dilation: List[int],
                        backend: str) -> Tuple[Tensor, Tensor]:
    return _kernel(backend, 'na2d_av_backward')(grad, attn, value,
                                                tuple(kernel), tuple(dilation))


@na2d_av_backward_op.register_fake
def _(grad, attn, value, kernel, dilation, backend):
    return _empty(attn), _empty(value)


def _av_setup(ctx, inputs, output):
    attn, value, kernel, dilation, backend = inputs
    ctx.save_for_backward(attn, value)
    ctx.args = (kernel, dilation, backend)


def _av_backward(ctx, grad):
    attn, value = ctx.saved_tensors
    dattn, dvalue = na2d_av_backward_op(grad, attn, value, *ctx.args)
    return dattn, dvalue, None, None, None


na2d_av_op.register_autograd(_av_backward, setup_context=_av_setup)


# selective_scan_states ---------------------------------------------------------
@torch.library.custom_op('mmmamba::selective_scan_states', mutates_args=())
def selective_scan_op(u: Tensor, delta: Tensor, A: Tensor, B: Tensor,
                      delta_bias: Optional[Tensor], delta_softplus: bool,
                      backend: str) -> Tensor:
    return _kernel(backend, 'selective_scan_forward')(u, delta, A, B,
                                                      delta_bias,
                                                      delta_softplus)


@selective_scan_op.register_fake
def _(u, delta, A, B, delta_bias, delta_softplus, backend):
    batch, channels, length = u.shape
    return u.new_empty(batch, channels, A.shape[1], length,
                       dtype=scan_states_dtype(u, delta, A, B, delta_bias))


@torch.library.custom_op('mmmamba::selective_scan_states_backward',
                         mutates_args=())
def selective_scan_backward_op(
        grad: Tensor, u: Tensor, delta: Tensor, A: Tensor, B: Tensor,
        delta_bias: Optional[Tensor], delta_softplus: bool, h: Tensor,
        backend: str) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    du, ddelta, dA, dB, dbias = _kernel(backend, 'selective_scan_backward')(
        grad, u, delta, A, B, delta_bias, delta_softplus, h)
    return du, ddelta, dA, dB, u.new_empty(0) if dbias is None else dbias


@selective_scan_backward_op.register_fake
def _(grad, u, delta, A, B, delta_bias, delta_softplus, h, backend):
    dbias = u.new_empty(0) if delta_bias is None else _empty(
        delta_bias)
    return (_empty(u), _empty(delta), _empty(A),
            _empty(B), dbias)


def _scan_setup(ctx, inputs, output):
    u, delta, A, B, delta_bias, delta_softplus, backend = inputs
    ctx.save_for_backward(u, delta, A, B, delta_bias, output)
    ctx.args = (delta_softplus, backend)


def _scan_backward(ctx, grad):
    u, delta, A, B, delta_bias, h = ctx.saved_tensors
    softplus, backend = ctx.args
    du, ddelta, dA, dB, dbias = selective_scan_backward_op(
        grad, u, delta, A, B, delta_bias, softplus, h, backend)
    return (du, ddelta, dA, dB, None if delta_bias is None else dbias, None,
            None)


selective_scan_op.register_autograd(_scan_backward,
                                    setup_context=_scan_setup)


# a2ssm_aggregate ---------------------------------------------------------------
@torch.library.custom_op('mmmamba::a2ssm_aggregate', mutates_args=())
def a2ssm_aggregate_op(attn_local: Tensor, attn_dilated: Tensor,
                       states: Tensor, kernel_size: int, dilation: List[int],
                       backend: str) -> Tensor:
    return _kernel(backend, 'a2ssm_aggregate_forward')(
        attn_local, attn_dilated, states, kernel_size, tuple(dilation))


@a2ssm_aggregate_op.register_fake
def _(attn_local, attn_dilated, states, kernel_size, dilation, backend):
    return _empty(states)


@torch.library.custom_op('mmmamba::a2ssm_aggregate_backward', mutates_args=())
def a2ssm_aggregate_backward_op(grad: Tensor, attn_local: Tensor,
                                attn_dilated: Tensor, states: Tensor,
                                kernel_size: int, dilation: List[int],
                                backend: str) -> Tuple[Tensor, Tensor, Tensor]:
    return _kernel(backend, 'a2ssm_aggregate_backward')(
        grad, attn_local, attn_dilated, states, kernel_size, tuple(dilation))


@a2ssm_aggregate_backward_op.register_fake
def _(grad, attn_local, attn_dilated, states, kernel_size, dilation, backend):
    return (_empty(attn_local), _empty(attn_dilated),
            _empty(states))


def _aggregate_setup(ctx, inputs, output):
    attn_local, attn_dilated, states, kernel_size, dilation, backend = inputs
    ctx.save_for_backward(attn_local, attn_dilated, states)
    ctx.args = (kernel_size, dilation, backend)


def _aggregate_backward(ctx, grad):
    grads = a2ssm_aggregate_backward_op(grad, *ctx.saved_tensors, *ctx.args)
    return (*grads, None, None, None)


a2ssm_aggregate_op.register_autograd(_aggregate_backward,
                                     setup_context=_aggregate_setup)
