"""``a2ssm_aggregate`` as a ``torch.library`` custom op, and its calls into
the compiled kernels (the pattern of :mod:`mmmamba.ops.neighborhood.library`).

Kernel contract (``g`` heads per half, ``G = 2g``; arguments checked by
:mod:`.checks`):

- ``a2ssm_aggregate_forward(attn_local, attn_dilated, states, kernel_size,
  dilation)``: ``attn_*``: ``B × g × Hp × Wp × K²``; ``states``:
  ``B × G × d × H × W`` (the scan's layout, ``H <= Hp``, ``W <= Wp``);
  returns ``B × G × d × H × W`` in states' dtype (see
  :func:`.reference.a2ssm_aggregate_reference`). ``dilation`` is the dilated
  half's ``(h, w)`` pair.
- ``a2ssm_aggregate_backward(grad, attn_local, attn_dilated, states,
  kernel_size, dilation)`` → ``(dattn_local, dattn_dilated, dstates)``.

The compiled kernels read the maps in the states' kernel dtype ``T``, as the
reference casts them.
"""
from typing import List, Tuple

import torch
from torch import Tensor

from ..dtypes import contiguous_as, empty_like_contiguous
from ..registry import Op, kernels, register_op
from .reference import a2ssm_aggregate_reference


def compiled_forward(backend, attn_local, attn_dilated, states, kernel_size,
                     dilation):
    T = backend.dtype(states)
    out = backend.run('a2ssm_aggregate_forward', states.device,
                      contiguous_as(attn_local, T),
                      contiguous_as(attn_dilated, T),
                      contiguous_as(states, T), kernel_size,
                      *dilation)  # B, G, d, H, W
    return out.to(states.dtype)


def compiled_backward(backend, grad, attn_local, attn_dilated, states,
                      kernel_size, dilation):
    T = backend.dtype(states)
    dlocal, ddilated, dstates = backend.run(
        'a2ssm_aggregate_backward', states.device, contiguous_as(grad, T),
        contiguous_as(attn_local, T), contiguous_as(attn_dilated, T),
        contiguous_as(states, T), kernel_size, *dilation)
    return (dlocal.to(attn_local.dtype), ddilated.to(attn_dilated.dtype),
            dstates.to(states.dtype))


register_op(Op('a2ssm_aggregate', a2ssm_aggregate_reference, compiled_forward,
               compiled_backward, 'mmmamba.ops.a2ssm_aggregate.triton'))


@torch.library.custom_op('mmmamba::a2ssm_aggregate', mutates_args=())
def a2ssm_aggregate_op(attn_local: Tensor, attn_dilated: Tensor,
                       states: Tensor, kernel_size: int, dilation: List[int],
                       backend: str) -> Tensor:
    forward, _ = kernels('a2ssm_aggregate', backend)
    return forward(attn_local, attn_dilated, states, kernel_size,
                   tuple(dilation))


@a2ssm_aggregate_op.register_fake
def _(attn_local, attn_dilated, states, kernel_size, dilation, backend):
    return empty_like_contiguous(states)


@torch.library.custom_op('mmmamba::a2ssm_aggregate_backward', mutates_args=())
def a2ssm_aggregate_backward_op(grad: Tensor, attn_local: Tensor,
                                attn_dilated: Tensor, states: Tensor,
                                kernel_size: int, dilation: List[int],
                                backend: str) -> Tuple[Tensor, Tensor, Tensor]:
    _, backward = kernels('a2ssm_aggregate', backend)
    return backward(grad, attn_local, attn_dilated, states, kernel_size,
                    tuple(dilation))


@a2ssm_aggregate_backward_op.register_fake
def _(grad, attn_local, attn_dilated, states, kernel_size, dilation, backend):
    return empty_like_contiguous(attn_local), empty_like_contiguous(attn_dilated), empty_like_contiguous(states)


def _setup(ctx, inputs, output):
    attn_local, attn_dilated, states, kernel_size, dilation, backend = inputs
    ctx.save_for_backward(attn_local, attn_dilated, states)
    ctx.args = (kernel_size, dilation, backend)


def _backward(ctx, grad):
    grads = a2ssm_aggregate_backward_op(grad, *ctx.saved_tensors, *ctx.args)
    return (*grads, None, None, None)


a2ssm_aggregate_op.register_autograd(_backward, setup_context=_setup)
