"""``depthwise_conv2d`` as a ``torch.library`` custom op, and its calls into
the compiled kernels (the pattern of :mod:`mmmamba.ops.neighborhood.library`).

The custom op takes ``x`` as ``B × C × H × W`` of any strides and returns
a channels-last ``B × C × H × W`` tensor (not a view: callers add into it in
place); its gradients ``dx`` are channels-last too. ``torch.compile``
traces the custom op; eager calls run :class:`DepthwiseConv2dFunction`, the
same kernels and gradients without the custom-op dispatcher, whose Python
layers cost more than the kernels at the small stage-4 maps (~0.25 ms per
forward + backward on the 2-core Xeon, docs/benchmarks.md).

Kernel contract (arguments checked by :mod:`.checks`):

- ``depthwise_conv2d_forward(x, weight, bias, residual)``: ``x``:
  ``B × C × H × W``, channels-last contiguous; ``weight``: ``C × K × K``;
  ``bias``: ``C`` or None; returns a channels-last ``B × C × H × W`` in x's
  dtype: ``bias + conv(x)`` (``+ x`` when ``residual``).
- ``depthwise_conv2d_backward(grad, x, weight, residual)`` →
  ``(dx, dweight, dbias)``.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..dtypes import contiguous_as
from ..registry import Op, kernels, register_op
from .reference import depthwise_conv2d_reference


def _channels_last(map_, dtype):
    """``map_`` in ``dtype``, channels-last contiguous (no copy for a
    channels-last map already in ``dtype``)."""
    return map_.to(dtype).contiguous(memory_format=torch.channels_last)


def compiled_forward(backend, x, weight, bias, residual):
    T = backend.dtype(x, weight, bias)
    out = backend.run('depthwise_conv2d_forward', x.device,
                      _channels_last(x, T),
                      contiguous_as(weight.flatten(0, 1), T),
                      contiguous_as(bias, T), residual)  # B, C, H, W
    return out.to(x.dtype)


def compiled_backward(backend, grad, x, weight, residual):
    T = backend.dtype(grad, x, weight)
    dx, dweight, dbias = backend.run(
        'depthwise_conv2d_backward', x.device, _channels_last(grad, T),
        _channels_last(x, T), contiguous_as(weight.flatten(0, 1), T),
        residual)
    return (dx.to(x.dtype),
            dweight.view(weight.shape).to(weight.dtype),
            dbias.to(weight.dtype))


register_op(Op('depthwise_conv2d', depthwise_conv2d_reference,
               compiled_forward, compiled_backward))


def _channels_last_like(x):
    return torch.empty_like(x, memory_format=torch.channels_last)


@torch.library.custom_op('mmmamba::depthwise_conv2d', mutates_args=())
def depthwise_conv2d_op(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                        residual: bool, backend: str) -> Tensor:
    forward, _ = kernels('depthwise_conv2d', backend)
    return forward(x, weight, bias, residual)


@depthwise_conv2d_op.register_fake
def _(x, weight, bias, residual, backend):
    return _channels_last_like(x)


@torch.library.custom_op('mmmamba::depthwise_conv2d_backward',
                         mutates_args=())
def depthwise_conv2d_backward_op(grad: Tensor, x: Tensor, weight: Tensor,
                                 residual: bool,
                                 backend: str) -> Tuple[Tensor, Tensor, Tensor]:
    _, backward = kernels('depthwise_conv2d', backend)
    return backward(grad, x, weight, residual)


@depthwise_conv2d_backward_op.register_fake
def _(grad, x, weight, residual, backend):
    return (_channels_last_like(x), weight.new_empty(weight.shape),
            weight.new_empty(weight.shape[:1]))


class DepthwiseConv2dFunction(torch.autograd.Function):
    """The eager twin of the custom op: ``apply(x, weight, bias, residual,
    backend)``, the same kernel calls and gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias, residual, backend):
        forward, _ = kernels('depthwise_conv2d', backend)
        _setup(ctx, (x, weight, bias, residual, backend), None)
        return forward(x, weight, bias, residual)

    @staticmethod
    def backward(ctx, grad):
        _, backward = kernels('depthwise_conv2d', ctx.args[1])
        dx, dweight, dbias = backward(grad, *ctx.saved_tensors, ctx.args[0])
        return dx, dweight, dbias if ctx.has_bias else None, None, None


def _setup(ctx, inputs, output):
    x, weight, bias, residual, backend = inputs
    ctx.save_for_backward(x, weight)
    ctx.args = (residual, backend)
    ctx.has_bias = bias is not None


def _backward(ctx, grad):
    dx, dweight, dbias = depthwise_conv2d_backward_op(grad, *ctx.saved_tensors,
                                                      *ctx.args)
    return dx, dweight, dbias if ctx.has_bias else None, None, None


depthwise_conv2d_op.register_autograd(_backward, setup_context=_setup)
