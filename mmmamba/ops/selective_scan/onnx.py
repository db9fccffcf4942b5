"""The selective scan in the formulation exported to ONNX: the reference's
chunked scan (:func:`~.reference.linear_scan`: the same chunks, entry-state
recursion and stability), written with the step axis moved by explicit
positive permutations, which the TorchScript exporter writes correctly.

Each chunk level is a loop of ``T`` multiply-adds over tensors holding every
chunk (``T`` Mul/Add pairs of ``L / T`` elements), so the graph's work is
linear in ``L``; solving each chunk by a ``T × T`` decay matrix instead (as
an earlier export did) cost ``T`` times more memory traffic, which dominated
onnxruntime's run time.
"""
import torch
import torch.nn.functional as F

from .checks import check_scan_args
from .reference import _CHUNK, _scan_steps, scan_terms

__all__ = ['linear_scan_onnx', 'selective_scan_states_onnx']


def _steps_first(x):
    """``... × nc × T`` → ``T × ... × nc`` (contiguous per step)."""
    last = x.dim() - 1
    return x.permute(last, *range(last)).contiguous()


def _steps_last(x):
    """``T × ... × nc`` → ``... × nc × T``."""
    return x.permute(*range(1, x.dim()), 0)


def linear_scan_onnx(log_a, x, chunk=None):
    """All states of ``h_t = exp(log_a_t)·h_{t-1} + x_t``, h_0 = 0, last dim
    (the contract of :func:`~.reference.linear_scan`)."""
    chunk = _CHUNK if chunk is None else chunk
    length = x.shape[-1]
    if length == 0:
        return x
    chunks = (length + chunk - 1) // chunk
    steps = chunk if chunks > 1 else length
    pad = chunks * steps - length
    if pad:  # padded steps: no decay, no input; cropped at the end
        log_a = F.pad(log_a, (0, pad))
        x = F.pad(x, (0, pad))
    # unflatten / flatten keep the leading (batch) sizes dynamic in the graph
    log_a = _steps_first(log_a.unflatten(-1, (chunks, steps)))  # T, ..., nc
    x = _steps_first(x.unflatten(-1, (chunks, steps)))  # T, ..., nc
    states = _scan_steps(log_a.exp(), x)  # T, ..., nc (zero-start per chunk)
    if chunks > 1:
        cum = log_a.cumsum(0)  # T, ..., nc   (c_t)
        # state entering chunk i = global state at the end of chunk i - 1
        ends = linear_scan_onnx(cum[steps - 1], states[steps - 1], chunk)
        entry = F.pad(ends.narrow(-1, 0, chunks - 1), (1, 0))  # ..., nc
        states = states + cum.exp() * entry  # T, ..., nc
    states = _steps_last(states).flatten(-2)  # ..., nc*T
    return states.narrow(-1, 0, length)


def selective_scan_states_onnx(u, delta, A, B, delta_bias=None,
                               delta_softplus=True):
    """``selective_scan_states_reference`` with :func:`linear_scan_onnx`
    (same arguments, checks and result)."""
    check_scan_args(u, delta, A, B, delta_bias)
    log_a, x = scan_terms(u, delta, A, B, delta_bias, delta_softplus)
    return linear_scan_onnx(log_a, x).contiguous()  # batch, D, N, L
