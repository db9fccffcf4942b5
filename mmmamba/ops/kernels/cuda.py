"""CUDA backend: the CUDA launchers linked into ``mmmamba._C``.

``csrc/cuda/*.cu`` hold the kernels, ``csrc/cuda_ops.cpp`` binds them as the
``cuda_*`` functions of the extension (built with ``MMMAMBA_WITH_CUDA=1``).
Those take contiguous CUDA tensors of fixed dtypes and the CUDA stream as an
integer, so the extension needs no CUDA torch headers; this module casts,
passes the current stream of the tensors' device and casts the results to
the dtypes of the contract in :mod:`mmmamba.ops.kernels`.

Dtypes: the kernels read ``T`` = float32 / float16 / bfloat16 tensors and
accumulate in float32. Inputs in one of those dtypes run in it; float64 (or
mixed) inputs run in float32 and the results are cast back to the inputs'
dtypes, so float64 gets float32 accuracy here (gradcheck in float64 belongs
to the reference and the CPU kernels). The relative-position bias, the
scan's ``A`` / ``delta_bias`` and its states and gradients are float32 in
the kernels.
"""
import torch

from ..dispatch import extension
from ..library import scan_states_dtype  # fp32 states, fp64 for fp64 inputs

KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _ktype(*tensors):
    """The kernels' T: the tensors' common dtype if a kernel dtype, else
    fp32 (float64 or mixed dtypes)."""
    dtypes = {t.dtype for t in tensors if t is not None}
    common = dtypes.pop() if len(dtypes) == 1 else None
    return common if common in KERNEL_DTYPES else torch.float32


def _prep(tensor, dtype):
    return None if tensor is None else tensor.to(dtype).contiguous()


def _cast(tensor, like):
    """``tensor`` in ``like``'s dtype (None stays None)."""
    return None if like is None else tensor.to(like.dtype)


def _launch(name, device, *args):
    """``mmmamba._C.cuda_<name>(*args, stream)`` on ``device``'s current
    stream (the launchers run on the current device)."""
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device).cuda_stream
        return getattr(extension(), f'cuda_{name}')(*args, stream)


def na2d_qk_forward(query, key, rpb, kernel, dilation):
    T = _ktype(query, key)
    attn = _launch('na2d_qk_forward', query.device, _prep(query, T),
                   _prep(key, T), _prep(rpb, torch.float32), *kernel,
                   *dilation)  # B, heads, H, W, Kh*Kw
    return attn.to(query.dtype)


def na2d_qk_backward(grad, query, key, rpb, kernel, dilation):
    T = _ktype(query, key)
    dq, dk, drpb = _launch('na2d_qk_backward', query.device, _prep(grad, T),
                           _prep(query, T), _prep(key, T), rpb is not None,
                           *kernel, *dilation)
    return _cast(dq, query), _cast(dk, key), _cast(drpb, rpb)


def na2d_av_forward(attn, value, kernel, dilation):
    T = _ktype(value)
    out = _launch('na2d_av_forward', value.device, _prep(attn, T),
                  _prep(value, T), *kernel, *dilation)  # B, heads, H, W, d
    return out.to(value.dtype)


def na2d_av_backward(grad, attn, value, kernel, dilation):
    T = _ktype(value)
    dattn, dv = _launch('na2d_av_backward', value.device, _prep(grad, T),
                        _prep(attn, T), _prep(value, T), *kernel, *dilation)
    return _cast(dattn, attn), _cast(dv, value)


def _scan_inputs(u, delta, A, B, delta_bias):
    """u, delta, B in their T; A, delta_bias in fp32 (the launchers')."""
    T = _ktype(u, delta, B)
    return (_prep(u, T), _prep(delta, T), _prep(A, torch.float32),
            _prep(B, T), _prep(delta_bias, torch.float32))


def selective_scan_forward(u, delta, A, B, delta_bias, delta_softplus):
    h = _launch('selective_scan_forward', u.device,
                *_scan_inputs(u, delta, A, B, delta_bias),
                bool(delta_softplus))  # batch, D, N, L in fp32
    return h.to(scan_states_dtype(u, delta, A, B, delta_bias))


def selective_scan_backward(grad, u, delta, A, B, delta_bias, delta_softplus,
                            h):
    du, ddelta, dA, dB, dbias = _launch(
        'selective_scan_backward', u.device, _prep(grad, torch.float32),
        _prep(h, torch.float32), *_scan_inputs(u, delta, A, B, delta_bias),
        bool(delta_softplus))
    return (_cast(du, u), _cast(ddelta, delta), _cast(dA, A), _cast(dB, B),
            _cast(dbias, delta_bias))


def a2ssm_aggregate_forward(attn_local, attn_dilated, states, kernel_size,
                            dilation):
    # the maps run in the states' T, as the reference casts them
    T = _ktype(states)
    out = _launch('a2ssm_aggregate_forward', states.device,
                  _prep(attn_local, T), _prep(attn_dilated, T),
                  _prep(states, T), kernel_size, *dilation)  # B, G, d, H, W
    return out.to(states.dtype)


def a2ssm_aggregate_backward(grad, attn_local, attn_dilated, states,
                             kernel_size, dilation):
    T = _ktype(states)
    dlocal, ddilated, dstates = _launch(
        'a2ssm_aggregate_backward', states.device, _prep(grad, T),
        _prep(attn_local, T), _prep(attn_dilated, T), _prep(states, T),
        kernel_size, *dilation)
    return (_cast(dlocal, attn_local), _cast(ddilated, attn_dilated),
            _cast(dstates, states))
