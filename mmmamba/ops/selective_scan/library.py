"""``selective_scan_states`` as a ``torch.library`` custom op, and its calls
into the compiled kernels (the pattern of
:mod:`mmmamba.ops.neighborhood.library`).

Kernel contract (``B`` is 3-D ``batch × N × L`` here; arguments checked by
:mod:`.checks`):

- ``selective_scan_states_forward(u, delta, A, B, delta_bias,
  delta_softplus)`` → h ``batch × D × N × L`` in fp32 (fp64 if any input is
  fp64). The step ``Δ = softplus(delta + delta_bias)`` (threshold 20) is
  computed inside every backend's kernel, and so is its gradient.
- ``selective_scan_states_backward(grad, u, delta, A, B, delta_bias,
  delta_softplus, h)`` → ``(du, ddelta, dA, dB, ddelta_bias or None)`` in
  the inputs' dtypes; ``h`` is the forward's output.

The compiled kernels read u, delta and B in the backend's kernel dtype ``T``
(which follows u, delta and B: fp32 parameters A / delta_bias do not turn
fp16 / bf16 sequences into an fp32 call; fp64 when any input is) and A,
delta_bias, the states and their gradient in its accumulation dtype.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..dtypes import (accumulation_dtype, cast_like, compute_dtype,
                      contiguous_as, empty_like_contiguous)
from ..registry import Op, kernels, register_op
from .reference import selective_scan_states_reference

OP = 'selective_scan_states'


def _compiled_inputs(backend, u, delta, A, B, delta_bias):
    """u, delta, B in their kernel dtype T; A, delta_bias in T's
    accumulation dtype."""
    wide = [t for t in (A, delta_bias)
            if t is not None and t.dtype == torch.float64]
    T = backend.dtype(u, delta, B, *wide)
    acc = accumulation_dtype(T)
    return (contiguous_as(u, T), contiguous_as(delta, T), contiguous_as(A, acc),
            contiguous_as(B, T), contiguous_as(delta_bias, acc))


def compiled_forward(backend, u, delta, A, B, delta_bias, delta_softplus):
    h = backend.run('selective_scan_forward', u.device,
                    *_compiled_inputs(backend, u, delta, A, B, delta_bias),
                    bool(delta_softplus))  # batch, D, N, L
    return h.to(compute_dtype(u, delta, A, B, delta_bias))


def compiled_backward(backend, grad, u, delta, A, B, delta_bias,
                      delta_softplus, h):
    inputs = _compiled_inputs(backend, u, delta, A, B, delta_bias)
    acc = inputs[2].dtype
    du, ddelta, dA, dB, dbias = backend.run(
        'selective_scan_backward', u.device, contiguous_as(grad, acc),
        contiguous_as(h, acc), *inputs, bool(delta_softplus))
    return (cast_like(du, u), cast_like(ddelta, delta), cast_like(dA, A), cast_like(dB, B),
            cast_like(dbias, delta_bias))


register_op(Op(OP, selective_scan_states_reference, compiled_forward,
               compiled_backward, 'mmmamba.ops.selective_scan.triton'))


@torch.library.custom_op('mmmamba::selective_scan_states', mutates_args=())
def selective_scan_op(u: Tensor, delta: Tensor, A: Tensor, B: Tensor,
                      delta_bias: Optional[Tensor], delta_softplus: bool,
                      backend: str) -> Tensor:
    forward, _ = kernels(OP, backend)
    return forward(u, delta, A, B, delta_bias, delta_softplus)


@selective_scan_op.register_fake
def _(u, delta, A, B, delta_bias, delta_softplus, backend):
    batch, channels, length = u.shape
    return u.new_empty(batch, channels, A.shape[1], length,
                       dtype=compute_dtype(u, delta, A, B, delta_bias))


@torch.library.custom_op('mmmamba::selective_scan_states_backward',
                         mutates_args=())
def selective_scan_backward_op(
        grad: Tensor, u: Tensor, delta: Tensor, A: Tensor, B: Tensor,
        delta_bias: Optional[Tensor], delta_softplus: bool, h: Tensor,
        backend: str) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    _, backward = kernels(OP, backend)
    du, ddelta, dA, dB, dbias = backward(grad, u, delta, A, B, delta_bias,
                                         delta_softplus, h)
    return du, ddelta, dA, dB, u.new_empty(0) if dbias is None else dbias


@selective_scan_backward_op.register_fake
def _(grad, u, delta, A, B, delta_bias, delta_softplus, h, backend):
    dbias = (u.new_empty(0) if delta_bias is None else
             empty_like_contiguous(delta_bias))
    return (empty_like_contiguous(u), empty_like_contiguous(delta),
            empty_like_contiguous(A), empty_like_contiguous(B), dbias)


def _setup(ctx, inputs, output):
    u, delta, A, B, delta_bias, delta_softplus, backend = inputs
    ctx.save_for_backward(u, delta, A, B, delta_bias, output)
    ctx.args = (delta_softplus, backend)


def _backward(ctx, grad):
    u, delta, A, B, delta_bias, h = ctx.saved_tensors
    softplus, backend = ctx.args
    du, ddelta, dA, dB, dbias = selective_scan_backward_op(
        grad, u, delta, A, B, delta_bias, softplus, h, backend)
    return (du, ddelta, dA, dB, None if delta_bias is None else dbias, None,
            None)


selective_scan_op.register_autograd(_backward, setup_context=_setup)
