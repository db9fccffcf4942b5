"""Autograd Functions over the compiled neighborhood-attention kernels.

The kernels (``csrc/cpu/neighborhood.cpp``) take contiguous float32 or
float64 tensors; fp16 / bf16 inputs are computed in float32 and cast back,
like the reference. Arguments are checked by the caller
(:mod:`mmmamba.ops.dispatch`) with the same functions the reference uses.
"""
import torch
from torch.autograd.function import once_differentiable

from ..dispatch import extension


def _ctype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _prep(tensor, ctype):
    return tensor.to(ctype).contiguous()


class NA2DQKFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, query, key, rpb, kernel, dil):
        ctype = _ctype(query.dtype)
        q, k = _prep(query, ctype), _prep(key, ctype)
        bias = None if rpb is None else _prep(rpb, ctype)
        attn = extension().na2d_qk_forward(q, k, bias, kernel[0], kernel[1],
                                           dil[0], dil[1])
        ctx.save_for_backward(q, k)
        ctx.window = (kernel, dil)
        ctx.dtypes = (query.dtype, key.dtype,
                      None if rpb is None else rpb.dtype)
        return attn.to(query.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        q, k = ctx.saved_tensors
        (kernel, dil), (q_dtype, k_dtype, rpb_dtype) = ctx.window, ctx.dtypes
        dq, dk, drpb = extension().na2d_qk_backward(
            _prep(grad, q.dtype), q, k, rpb_dtype is not None, kernel[0],
            kernel[1], dil[0], dil[1])
        drpb = None if rpb_dtype is None else drpb.to(rpb_dtype)
        return dq.to(q_dtype), dk.to(k_dtype), drpb, None, None


class NA2DAVFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, attn, value, kernel, dil):
        ctype = _ctype(value.dtype)
        a, v = _prep(attn, ctype), _prep(value, ctype)
        out = extension().na2d_av_forward(a, v, kernel[0], kernel[1], dil[0],
                                          dil[1])
        ctx.save_for_backward(a, v)
        ctx.window = (kernel, dil)
        ctx.dtypes = (attn.dtype, value.dtype)
        return out.to(value.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        a, v = ctx.saved_tensors
        (kernel, dil), (a_dtype, v_dtype) = ctx.window, ctx.dtypes
        dattn, dv = extension().na2d_av_backward(_prep(grad, v.dtype), a, v,
                                                 kernel[0], kernel[1], dil[0],
                                                 dil[1])
        return dattn.to(a_dtype), dv.to(v_dtype), None, None


def na2d_qk_cpu(query, key, kernel, dil, rpb=None):
    """``na2d_qk`` on the C++ kernels; kernel, dil: checked (h, w) pairs."""
    return NA2DQKFunction.apply(query, key, rpb, kernel, dil)


def na2d_av_cpu(attn, value, kernel, dil):
    """``na2d_av`` on the C++ kernels; kernel, dil: checked (h, w) pairs."""
    return NA2DAVFunction.apply(attn, value, kernel, dil)
