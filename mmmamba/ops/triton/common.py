"""Pieces shared by the Triton kernels of the op packages (``<op>/triton.py``):
compute dtype, block sizes, the launch under the inputs' device, softplus.

Every kernel loads its inputs in their own dtype and converts them at once to
the compute dtype ``ACC`` (a ``tl.constexpr``): float32, or float64 when an
input is float64. Converting right after ``tl.load`` also keeps bf16 out of
the arithmetic, which the Triton interpreter gets wrong.
"""
import contextlib

import torch
import triton
import triton.language as tl

from ..dtypes import compute_dtype
from ..versions import MIN_TRITON, require

require('triton', triton.__version__, MIN_TRITON,
        'the Triton kernels (or use another backend)')


def compute_dtypes(*tensors):
    """``(torch dtype, tl dtype)`` to compute in: :func:`compute_dtype` of
    the inputs (``None`` entries, absent optional inputs, are ignored)."""
    ctype = compute_dtype(*tensors)
    return ctype, tl.float64 if ctype == torch.float64 else tl.float32


def block_size(n, cap):
    """Power-of-two block covering ``n`` (at least 2), at most ``cap``."""
    return max(2, min(cap, triton.next_power_of_2(max(n, 1))))


def launch(kernel, grid, *args, **meta):
    """``kernel[grid](*args, **meta)`` on the device of the first tensor in
    ``args``: under its CUDA device guard (Triton launches on the current
    device and stream), a no-op for CPU tensors (the interpreter)."""
    device = next(a.device for a in args if isinstance(a, torch.Tensor))
    guard = (torch.cuda.device(device) if device.type == 'cuda' else
             contextlib.nullcontext())
    with guard:
        kernel[grid](*args, **meta)


@triton.jit
def softplus(z):
    """``F.softplus(z)`` (beta 1, threshold 20) with an accurate log1p."""
    e = tl.exp(tl.minimum(z, 20.0))
    w = 1 + e
    # log1p(e) = log(w) · e / (w - 1): the rounding of w cancels (Goldberg)
    ratio = e / tl.where(w == 1, 1.0, w - 1)
    log1p = tl.where(w == 1, e, tl.log(w) * ratio)
    return tl.where(z > 20, z, log1p)


@triton.jit
def softplus_grad(z):
    """d softplus / dz as torch's softplus_backward: sigmoid, 1 above 20."""
    e = tl.exp(tl.minimum(z, 20.0))
    return tl.where(z > 20, 1.0, e / (e + 1))
