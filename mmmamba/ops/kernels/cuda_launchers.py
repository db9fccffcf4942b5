"""The CUDA launchers as kernel-module functions, for two backends.

``csrc/cuda_ops.cpp`` binds the launchers of ``csrc/cuda/*.cu`` as the
``cuda_*`` functions of an extension module: ``mmmamba._C`` built with CUDA
(the ``cuda`` backend, CUDA tensors) and ``mmmamba._C_cuda_host`` (the
``cuda_host`` backend: the same kernels compiled for the host over a CUDA
emulation, CPU tensors). Both take contiguous tensors of fixed dtypes;
:class:`CudaLaunchers` casts the inputs, calls them through a backend's
``launch(name, device, *args)`` and casts the results to the dtypes of the
contract in :mod:`mmmamba.ops.kernels`.

Dtypes: the kernels read ``T`` = float32 / float16 / bfloat16 / float64
and accumulate in float32 (float64 for float64). Inputs of one of those
dtypes run in it; mixed dtypes run in float64 if any input is float64, else
in float32. The relative-position bias, the scan's ``A`` / ``delta_bias``
and its states and gradients are in the accumulation dtype.
"""
import torch

from ..library import scan_states_dtype  # fp32 states, fp64 for fp64 inputs

KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
FUNCTIONS = ('na2d_qk_forward', 'na2d_qk_backward', 'na2d_av_forward',
             'na2d_av_backward', 'selective_scan_forward',
             'selective_scan_backward', 'a2ssm_aggregate_forward',
             'a2ssm_aggregate_backward')


def _ktype(*tensors):
    """The kernels' T for these tensors (see the module docstring)."""
    dtypes = {t.dtype for t in tensors if t is not None}
    if torch.float64 in dtypes:
        return torch.float64
    common = dtypes.pop() if len(dtypes) == 1 else None
    return common if common in KERNEL_DTYPES else torch.float32


def _acc(T):
    """The accumulation dtype of T."""
    return torch.float64 if T == torch.float64 else torch.float32


def _prep(tensor, dtype):
    return None if tensor is None else tensor.to(dtype).contiguous()


def _cast(tensor, like):
    """``tensor`` in ``like``'s dtype (None stays None)."""
    return None if like is None else tensor.to(like.dtype)


class CudaLaunchers:
    """The kernel-module functions over ``launch(name, device, *args)``,
    which calls the extension's ``cuda_<name>(*args, stream)``."""

    def __init__(self, launch):
        self._launch = launch

    def export(self, namespace):
        """Define the functions of :data:`FUNCTIONS` in ``namespace`` (a
        backend module's globals, where the dispatch looks them up)."""
        for name in FUNCTIONS:
            namespace[name] = getattr(self, name)

    def na2d_qk_forward(self, query, key, rpb, kernel, dilation):
        T = _ktype(query, key)
        attn = self._launch('na2d_qk_forward', query.device, _prep(query, T),
                            _prep(key, T), _prep(rpb, _acc(T)), *kernel,
                            *dilation)  # B, heads, H, W, Kh*Kw
        return attn.to(query.dtype)

    def na2d_qk_backward(self, grad, query, key, rpb, kernel, dilation):
        T = _ktype(query, key)
        dq, dk, drpb = self._launch('na2d_qk_backward', query.device,
                                    _prep(grad, T), _prep(query, T),
                                    _prep(key, T), rpb is not None, *kernel,
                                    *dilation)
        return _cast(dq, query), _cast(dk, key), _cast(drpb, rpb)

    def na2d_av_forward(self, attn, value, kernel, dilation):
        T = _ktype(value)
        out = self._launch('na2d_av_forward', value.device, _prep(attn, T),
                           _prep(value, T), *kernel,
                           *dilation)  # B, heads, H, W, d
        return out.to(value.dtype)

    def na2d_av_backward(self, grad, attn, value, kernel, dilation):
        T = _ktype(value)
        dattn, dv = self._launch('na2d_av_backward', value.device,
                                 _prep(grad, T), _prep(attn, T),
                                 _prep(value, T), *kernel, *dilation)
        return _cast(dattn, attn), _cast(dv, value)

    @staticmethod
    def _scan_inputs(u, delta, A, B, delta_bias):
        """u, delta, B in their T; A, delta_bias in the accumulation dtype.
        T follows u, delta and B (fp32 parameters A / delta_bias do not turn
        fp16 / bf16 inputs into an fp32 call), fp64 when any input is."""
        wide = [t for t in (A, delta_bias)
                if t is not None and t.dtype == torch.float64]
        T = _ktype(u, delta, B, *wide)
        return (_prep(u, T), _prep(delta, T), _prep(A, _acc(T)), _prep(B, T),
                _prep(delta_bias, _acc(T)))

    def selective_scan_forward(self, u, delta, A, B, delta_bias,
                               delta_softplus):
        h = self._launch('selective_scan_forward', u.device,
                         *self._scan_inputs(u, delta, A, B, delta_bias),
                         bool(delta_softplus))  # batch, D, N, L
        return h.to(scan_states_dtype(u, delta, A, B, delta_bias))

    def selective_scan_backward(self, grad, u, delta, A, B, delta_bias,
                                delta_softplus, h):
        inputs = self._scan_inputs(u, delta, A, B, delta_bias)
        acc = inputs[2].dtype
        du, ddelta, dA, dB, dbias = self._launch(
            'selective_scan_backward', u.device, _prep(grad, acc),
            _prep(h, acc), *inputs, bool(delta_softplus))
        return (_cast(du, u), _cast(ddelta, delta), _cast(dA, A),
                _cast(dB, B), _cast(dbias, delta_bias))

    def a2ssm_aggregate_forward(self, attn_local, attn_dilated, states,
                                kernel_size, dilation):
        # the maps run in the states' T, as the reference casts them
        T = _ktype(states)
        out = self._launch('a2ssm_aggregate_forward', states.device,
                           _prep(attn_local, T), _prep(attn_dilated, T),
                           _prep(states, T), kernel_size,
                           *dilation)  # B, G, d, H, W
        return out.to(states.dtype)

    def a2ssm_aggregate_backward(self, grad, attn_local, attn_dilated, states,
                                 kernel_size, dilation):
        T = _ktype(states)
        dlocal, ddilated, dstates = self._launch(
            'a2ssm_aggregate_backward', states.device, _prep(grad, T),
            _prep(attn_local, T), _prep(attn_dilated, T), _prep(states, T),
            kernel_size, *dilation)
        return (_cast(dlocal, attn_local), _cast(ddilated, attn_dilated),
                _cast(dstates, states))
