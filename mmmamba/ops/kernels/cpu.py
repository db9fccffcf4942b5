"""CPU backend: the C++ kernels of ``mmmamba._C`` (``csrc/cpu/``).

The kernels take contiguous float32 or float64 tensors: fp16 / bf16 inputs
are computed in float32 and cast back (the scan returns float32 states, or
float64 if any input is float64), like the references. The function
contract is in :mod:`mmmamba.ops.kernels`.
"""
import torch

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


def selective_scan_forward(u, delta, A, B, delta_bias, delta_softplus):
    ctype = _ctype(u, delta, A, B, delta_bias)
    return extension().selective_scan_forward(
        *(_prep(t, ctype) for t in (u, delta, A, B, delta_bias)),
        delta_softplus)


def selective_scan_backward(grad, u, delta, A, B, delta_bias, delta_softplus,
                            h):
    ctype = _ctype(u, delta, A, B, delta_bias)
    du, ddelta, dA, dB, dbias = extension().selective_scan_backward(
        _prep(grad, ctype), _prep(h, ctype),
        *(_prep(t, ctype) for t in (u, delta, A, B, delta_bias)),
        delta_softplus)
    dbias = None if delta_bias is None else dbias.to(delta_bias.dtype)
    return (du.to(u.dtype), ddelta.to(delta.dtype), dA.to(A.dtype),
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
