"""``na2d_qk`` and ``na2d_av`` as ``torch.library`` custom ops, and their
calls into the compiled kernels.

Each op is a pair of custom ops, ``mmmamba::<op>`` and
``mmmamba::<op>_backward``, whose implementation runs the kernel of the
backend named by their last argument (see :mod:`mmmamba.ops.registry`).
Autograd is registered from one to the other, and fake (meta)
implementations give output shapes and dtypes without running a kernel, so
``torch.compile(fullgraph=True)`` traces models that call the ops. The
reference backend is plain differentiable torch code and needs no custom op.

Kernel contract (tensors ``B × heads × H × W × C``, arguments checked by
:mod:`.checks`; ``kernel`` and ``dilation`` are ``(h, w)`` int pairs):

- ``na2d_qk_forward(query, key, rpb, kernel, dilation)`` → attn
  ``B × heads × H × W × Kh·Kw`` in query's dtype; ``rpb`` is
  ``heads × (2Kh-1) × (2Kw-1)`` or None.
- ``na2d_qk_backward(grad, query, key, rpb, kernel, dilation)``
  → ``(dquery, dkey, drpb or None)`` in the inputs' dtypes.
- ``na2d_av_forward(attn, value, kernel, dilation)`` → out, value's dtype.
- ``na2d_av_backward(grad, attn, value, kernel, dilation)``
  → ``(dattn, dvalue)``.

The compiled kernels read query / key (value for ``av``) in the backend's
kernel dtype ``T`` and rpb in its accumulation dtype.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from ..dtypes import (accumulation_dtype, cast_like, contiguous_as,
                      empty_like_contiguous)
from ..registry import Op, kernels, register_op
from .reference import na2d_av_reference, na2d_qk_reference


# na2d_qk ---------------------------------------------------------------------
def qk_compiled_forward(backend, query, key, rpb, kernel, dilation):
    T = backend.dtype(query, key)
    attn = backend.run('na2d_qk_forward', query.device,
                       contiguous_as(query, T), contiguous_as(key, T),
                       contiguous_as(rpb, accumulation_dtype(T)), *kernel,
                       *dilation)  # B, heads, H, W, Kh*Kw
    return attn.to(query.dtype)


def qk_compiled_backward(backend, grad, query, key, rpb, kernel, dilation):
    T = backend.dtype(query, key)
    dq, dk, drpb = backend.run('na2d_qk_backward', query.device,
                               contiguous_as(grad, T), contiguous_as(query, T),
                               contiguous_as(key, T), rpb is not None,
                               *kernel, *dilation)
    return cast_like(dq, query), cast_like(dk, key), cast_like(drpb, rpb)


register_op(Op('na2d_qk', na2d_qk_reference, qk_compiled_forward,
               qk_compiled_backward))


@torch.library.custom_op('mmmamba::na2d_qk', mutates_args=())
def na2d_qk_op(query: Tensor, key: Tensor, rpb: Optional[Tensor],
               kernel: List[int], dilation: List[int], backend: str) -> Tensor:
    forward, _ = kernels('na2d_qk', backend)
    return forward(query, key, rpb, tuple(kernel), tuple(dilation))


@na2d_qk_op.register_fake
def _(query, key, rpb, kernel, dilation, backend):
    return query.new_empty(*query.shape[:4], kernel[0] * kernel[1])


@torch.library.custom_op('mmmamba::na2d_qk_backward', mutates_args=())
def na2d_qk_backward_op(grad: Tensor, query: Tensor, key: Tensor,
                        rpb: Optional[Tensor], kernel: List[int],
                        dilation: List[int],
                        backend: str) -> Tuple[Tensor, Tensor, Tensor]:
    _, backward = kernels('na2d_qk', backend)
    dq, dk, drpb = backward(grad, query, key, rpb, tuple(kernel),
                            tuple(dilation))
    return dq, dk, query.new_empty(0) if drpb is None else drpb


@na2d_qk_backward_op.register_fake
def _(grad, query, key, rpb, kernel, dilation, backend):
    drpb = query.new_empty(0) if rpb is None else empty_like_contiguous(rpb)
    return empty_like_contiguous(query), empty_like_contiguous(key), drpb


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
def av_compiled_forward(backend, attn, value, kernel, dilation):
    T = backend.dtype(value)
    out = backend.run('na2d_av_forward', value.device, contiguous_as(attn, T),
                      contiguous_as(value, T), *kernel,
                      *dilation)  # B, heads, H, W, d
    return out.to(value.dtype)


def av_compiled_backward(backend, grad, attn, value, kernel, dilation):
    T = backend.dtype(value)
    dattn, dv = backend.run('na2d_av_backward', value.device,
                            contiguous_as(grad, T), contiguous_as(attn, T),
                            contiguous_as(value, T), *kernel, *dilation)
    return cast_like(dattn, attn), cast_like(dv, value)


register_op(Op('na2d_av', na2d_av_reference, av_compiled_forward,
               av_compiled_backward, 'mmmamba.ops.neighborhood.triton'))


@torch.library.custom_op('mmmamba::na2d_av', mutates_args=())
def na2d_av_op(attn: Tensor, value: Tensor, kernel: List[int],
               dilation: List[int], backend: str) -> Tensor:
    forward, _ = kernels('na2d_av', backend)
    return forward(attn, value, tuple(kernel), tuple(dilation))


@na2d_av_op.register_fake
def _(attn, value, kernel, dilation, backend):
    return empty_like_contiguous(value)


@torch.library.custom_op('mmmamba::na2d_av_backward', mutates_args=())
def na2d_av_backward_op(grad: Tensor, attn: Tensor, value: Tensor,
                        kernel: List[int], dilation: List[int],
                        backend: str) -> Tuple[Tensor, Tensor]:
    _, backward = kernels('na2d_av', backend)
    return backward(grad, attn, value, tuple(kernel), tuple(dilation))


@na2d_av_backward_op.register_fake
def _(grad, attn, value, kernel, dilation, backend):
    return empty_like_contiguous(attn), empty_like_contiguous(value)


def _av_setup(ctx, inputs, output):
    attn, value, kernel, dilation, backend = inputs
    ctx.save_for_backward(attn, value)
    ctx.args = (kernel, dilation, backend)


def _av_backward(ctx, grad):
    attn, value = ctx.saved_tensors
    dattn, dvalue = na2d_av_backward_op(grad, attn, value, *ctx.args)
    return dattn, dvalue, None, None, None


na2d_av_op.register_autograd(_av_backward, setup_context=_av_setup)
