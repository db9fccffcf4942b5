"""Autograd Function over the compiled selective-scan kernels.

The C++ kernels (``csrc/cpu/selective_scan.cpp``) run the sequential
recurrence (multiply-adds only); the transcendental parts — the step
``Δ = softplus(delta + delta_bias)``, the decay ``exp(Δ·A)`` and the
softplus derivative — are vectorised torch ops here, recomputed in backward
rather than saved. fp16 / bf16 / fp32 inputs are computed in float32 and the
states returned in float32; if any input is float64 everything runs in
float64 (for gradcheck), like the reference. Arguments are checked by the
caller (:mod:`mmmamba.ops.dispatch`).
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..dispatch import extension


def _step_and_decay(delta, A, bias, softplus):
    """z = delta + bias; Δ = softplus(z) (threshold 20) or z; exp(Δ·A)."""
    z = delta if bias is None else delta + bias[:, None]  # batch, D, L
    dt = F.softplus(z) if softplus else z
    decay = torch.exp(dt[:, :, None, :] * A[None, :, :, None])  # b, D, N, L
    return z, dt.contiguous(), decay


class SelectiveScanStatesFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, u, delta, A, B, delta_bias, delta_softplus):
        inputs = (u, delta, A, B) + (() if delta_bias is None else
                                     (delta_bias,))
        ctype = (torch.float64 if any(t.dtype == torch.float64
                                      for t in inputs) else torch.float32)
        uc, dc, Ac = (t.to(ctype).contiguous() for t in (u, delta, A))
        Bc = (B.squeeze(1) if B.dim() == 4 else B).to(ctype).contiguous()
        bias = None if delta_bias is None else delta_bias.to(ctype)
        softplus = bool(delta_softplus)
        _, dt, decay = _step_and_decay(dc, Ac, bias, softplus)
        h = extension().selective_scan_states_forward(uc, dt, decay, Bc)
        del decay  # h-sized: recomputed in backward instead of saved
        ctx.save_for_backward(h, uc, dc, Ac, Bc, bias)
        ctx.softplus = softplus
        ctx.meta = (u.dtype, delta.dtype, A.dtype, B.dtype, B.shape,
                    None if delta_bias is None else delta_bias.dtype)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        h, u, delta, A, B, bias = ctx.saved_tensors
        u_dt, d_dt, A_dt, B_dt, B_shape, bias_dt = ctx.meta
        z, dt, decay = _step_and_decay(delta, A, bias, ctx.softplus)
        du, ddt, dA, dB = extension().selective_scan_states_backward(
            grad.to(h.dtype).contiguous(), h, u, dt, decay, A, B)
        if ctx.softplus:  # torch's softplus_backward: sigmoid, 1 above 20
            ddt = ddt * torch.where(z > 20, torch.ones_like(z), z.sigmoid())
        dbias = None if bias_dt is None else ddt.sum((0, 2)).to(bias_dt)
        return (du.to(u_dt), ddt.to(d_dt), dA.to(A_dt),
                dB.reshape(B_shape).to(B_dt), dbias, None)


def selective_scan_states_cpu(u, delta, A, B, delta_bias=None,
                              delta_softplus=True):
    """``selective_scan_states`` on the C++ kernels (arguments checked)."""
    return SelectiveScanStatesFunction.apply(u, delta, A, B, delta_bias,
                                             delta_softplus)
