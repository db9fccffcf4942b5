"""CPU backend: the C++ kernels of ``mmmamba._C`` (``csrc/cpu/``).

The kernels take contiguous float32 or float64 tensors: fp16 / bf16 inputs
are computed in float32 and cast back (the scan returns float32 states, or
float64 if any input is float64), like the references. The function
contract is in :mod:`mmmamba.ops.kernels`.
"""
import torch
import torch.nn.functional as F

from ..dispatch import extension


def _ctype(*tensors):
    """float64 if any tensor is float64, else float32."""
    return (torch.float64 if any(t is not None and t.dtype == torch.float64
                                 for t in tensors) else torch.float32)


def _prep(tensor, ctype):
    return None if tensor is None else tensor.to(ctype).contiguous()


def na2d_qk_forward(query, key, rpb, kernel, dilation):
    ctype = _ctype(query)
    attn = extension().na2d_qk_forward(
        _prep(query, ctype), _prep(key, ctype), _prep(rpb, ctype), *kernel,
        *dilation)
    return attn.to(query.dtype)


def na2d_qk_backward(grad, query, key, rpb, kernel, dilation):
    ctype = _ctype(query)
    dq, dk, drpb = extension().na2d_qk_backward(
        _prep(grad, ctype), _prep(query, ctype), _prep(key, ctype),
        rpb is not None, *kernel, *dilation)
    drpb = None if rpb is None else drpb.to(rpb.dtype)
    return dq.to(query.dtype), dk.to(key.dtype), drpb


def na2d_av_forward(attn, value, kernel, dilation):
    ctype = _ctype(value)
    out = extension().na2d_av_forward(_prep(attn, ctype), _prep(value, ctype),
                                      *kernel, *dilation)
    return out.to(value.dtype)


def na2d_av_backward(grad, attn, value, kernel, dilation):
    ctype = _ctype(value)
    dattn, dv = extension().na2d_av_backward(
        _prep(grad, ctype), _prep(attn, ctype), _prep(value, ctype), *kernel,
        *dilation)
    return dattn.to(attn.dtype), dv.to(value.dtype)


def _scan_step(delta, delta_bias, delta_softplus):
    """``z = delta + bias`` and the step ``Δ = softplus(z)`` (or ``z``),
    vectorised torch ops (batch × D × L)."""
    z = delta if delta_bias is None else delta + delta_bias[:, None]
    return z, (F.softplus(z) if delta_softplus else z).contiguous()


def selective_scan_forward(u, delta, A, B, delta_bias, delta_softplus):
    ctype = _ctype(u, delta, A, B, delta_bias)
    u, delta, A, B, bias = (_prep(t, ctype)
                            for t in (u, delta, A, B, delta_bias))
    _, dt = _scan_step(delta, bias, delta_softplus)
    return extension().selective_scan_states_forward(u, dt, A, B)


def selective_scan_backward(grad, u, delta, A, B, delta_bias, delta_softplus,
                            h):
    ctype = _ctype(u, delta, A, B, delta_bias)
    uc, dc, Ac, Bc, bias = (_prep(t, ctype)
                            for t in (u, delta, A, B, delta_bias))
    z, dt = _scan_step(dc, bias, delta_softplus)
    du, ddt, dA, dB = extension().selective_scan_states_backward(
        _prep(grad, ctype), _prep(h, ctype), uc, dt, Ac, Bc)
    if delta_softplus:  # torch's softplus_backward: sigmoid, 1 above 20
        ddt = ddt * torch.where(z > 20, torch.ones_like(z), z.sigmoid())
    dbias = None if delta_bias is None else ddt.sum((0, 2)).to(
        delta_bias.dtype)
    return (du.to(u.dtype), ddt.to(delta.dtype), dA.to(A.dtype),
            dB.to(B.dtype), dbias)


def a2ssm_aggregate_forward(attn_local, attn_dilated, states, kernel_size,
                            dilation):
    ctype = _ctype(states)
    out = extension().a2ssm_aggregate_forward(
        _prep(attn_local, ctype), _prep(attn_dilated, ctype),
        _prep(states, ctype), kernel_size, *dilation)
    return out.to(states.dtype)


def a2ssm_aggregate_backward(grad, attn_local, attn_dilated, states,
                             kernel_size, dilation):
    ctype = _ctype(states)
    dlocal, ddilated, dstates = extension().a2ssm_aggregate_backward(
        _prep(grad, ctype), _prep(attn_local, ctype),
        _prep(attn_dilated, ctype), _prep(states, ctype), kernel_size,
        *dilation)
    return (dlocal.to(attn_local.dtype), ddilated.to(attn_dilated.dtype),
            dstates.to(states.dtype))
