"""The compute-dtype rule of every mmmamba operator, written once, and the
contiguous tensors the kernels exchange.

Every backend computes fp16 / bf16 / fp32 inputs with fp32 accumulation, and
everything in fp64 when any input is fp64 (so gradcheck runs in fp64). The
compiled kernels read their tensors in a kernel dtype ``T`` of their own
list (the CPU kernels: fp32 and fp64; the CUDA kernels: fp16 and bf16 too)
and accumulate in :func:`compute_dtype` of ``T``.
"""
import torch

__all__ = ['compute_dtype', 'accumulation_dtype', 'kernel_dtype', 'contiguous_as',
           'empty_like_contiguous', 'cast_like', 'as_dtype']


def compute_dtype(*tensors):
    """fp64 if any tensor is fp64, else fp32 (``None`` entries ignored)."""
    if any(t is not None and t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32


def accumulation_dtype(dtype):
    """The dtype a kernel reading ``dtype`` accumulates in: fp64 for fp64,
    else fp32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def kernel_dtype(tensors, supported):
    """The dtype ``T`` a kernel reading ``tensors`` runs in.

    fp64 if any tensor is fp64; else the tensors' one common dtype if it is
    in ``supported``; else fp32 (mixed or unsupported dtypes).
    """
    dtypes = {t.dtype for t in tensors if t is not None}
    if torch.float64 in dtypes:
        return torch.float64
    common = dtypes.pop() if len(dtypes) == 1 else None
    return common if common in supported else torch.float32


def contiguous_as(tensor, dtype):
    """``tensor`` as a contiguous ``dtype`` tensor (``None`` stays None)."""
    return None if tensor is None else tensor.to(dtype).contiguous()


def empty_like_contiguous(like):
    """An uninitialised contiguous tensor of ``like``'s shape, dtype and
    device (what the custom ops' fake implementations return)."""
    return like.new_empty(like.shape)


def cast_like(tensor, like):
    """``tensor`` in ``like``'s dtype (None when ``like`` is None: the
    gradient of an absent optional input)."""
    return None if like is None else tensor.to(like.dtype)


def as_dtype(x, dtype):
    """``x`` in ``dtype``; ``x`` itself (no Cast in an exported graph) when
    it already is."""
    return x if x.dtype == dtype else x.to(dtype)
