"""The selective scan in the formulation exported to ONNX: the reference's
chunked scan (:func:`~.reference.linear_scan`: the same chunks, entry-state
recursion and stability), written for a lean graph:

- the step axis is moved by explicit permutations (which the TorchScript
  exporter writes correctly) and every reshape takes a constant shape
  (the map size is fixed in an export, only the batch axis is dynamic), so
  no shape arithmetic enters the graph;
- the softplus of the steps is ``x`` above 20 and ``log(1 + exp(x))``
  below, torch's threshold (onnxruntime's ``Softplus`` runs many times
  slower than these element-wise operators).

Each chunk level is a loop of ``T`` multiply-adds over tensors holding every
chunk (``T`` Mul/Add pairs of ``L / T`` elements), so the graph's work is
linear in ``L``; solving each chunk by a ``T × T`` decay matrix instead (as
an earlier export did) cost ``T`` times more memory traffic, which dominated
onnxruntime's run time.
"""
import torch
import torch.nn.functional as F

from ..onnx_shapes import static_shape
from .checks import check_scan_args
from .reference import _CHUNK, _scan_steps, scan_terms

__all__ = ['chunk_for', 'linear_scan_onnx', 'selective_scan_states_onnx',
           'softplus_onnx']

SOFTPLUS_THRESHOLD = 20.0  # F.softplus's default: x itself above it
CHUNK_RANGE = range(8, 25)  # chunk lengths tried where one divides a level


def softplus_onnx(x):
    """``F.softplus(x)`` (threshold 20) from Exp, Log and Relu:
    ``log1p(exp(min(x, 20))) + relu(x - 20)``. Above the threshold the first
    term is 20 in fp32 (``log1p(exp(20)) = 20 + 2e-9``), so the sum is x
    within an ulp; onnxruntime's ``Where`` ran as slowly as the rest of the
    expression together."""
    below = torch.log1p(torch.exp(x.clamp(max=SOFTPLUS_THRESHOLD)))
    return below + F.relu(x - SOFTPLUS_THRESHOLD)


def _steps_first(x, rest, chunks, steps):
    """``B × rest × nc·T`` → ``T × B × rest × nc`` (contiguous per step)."""
    x = x.reshape(-1, *rest, chunks, steps)
    last = x.dim() - 1
    return x.permute(last, *range(last))


def chunk_for(length):
    """The chunk length of a level of ``length`` steps: the divisor of
    ``length`` in ``CHUNK_RANGE`` nearest to the reference's chunk (so no
    step is padded and no state cropped: a Pad per term and a Slice of the
    states fewer), else the reference's chunk."""
    divisors = [c for c in CHUNK_RANGE if length % c == 0]
    return min(divisors, key=lambda c: (abs(c - _CHUNK), c),
               default=_CHUNK)


def linear_scan_onnx(log_a, x, chunk=None):
    """All states of ``h_t = exp(log_a_t)·h_{t-1} + x_t``, h_0 = 0, last dim
    (the contract of :func:`~.reference.linear_scan`; the first dim is the
    batch). ``chunk``: the chunk length of every level (default: chosen per
    level by :func:`chunk_for`)."""
    *rest, length = static_shape(x)
    if length == 0:
        return x
    level_chunk = chunk_for(length) if chunk is None else chunk
    chunks = (length + level_chunk - 1) // level_chunk
    steps = level_chunk if chunks > 1 else length
    pad = chunks * steps - length
    if pad:  # padded steps: no decay, no input; cropped at the end
        log_a = F.pad(log_a, (0, pad))
        x = F.pad(x, (0, pad))
    log_a = _steps_first(log_a, rest, chunks, steps)  # T, B, ..., nc
    x = _steps_first(x, rest, chunks, steps)  # T, B, ..., nc
    states = _scan_steps(log_a.exp(), x)  # T, B, ..., nc (zero-start)
    if chunks > 1:
        cum = log_a.cumsum(0)  # T, B, ..., nc   (c_t)
        # state entering chunk i = global state at the end of chunk i - 1
        ends = linear_scan_onnx(cum[steps - 1], states[steps - 1], chunk)
        entry = F.pad(ends[..., :chunks - 1], (1, 0))  # B, ..., nc
        states = states + cum.exp() * entry  # T, B, ..., nc
    states = states.permute(*range(1, states.dim()), 0)  # B, ..., nc, T
    states = states.reshape(-1, *rest, chunks * steps)
    return states[..., :length] if pad else states


def selective_scan_states_onnx(u, delta, A, B, delta_bias=None,
                               delta_softplus=True):
    """``selective_scan_states_reference`` with :func:`linear_scan_onnx`
    (same arguments, checks and result)."""
    check_scan_args(u, delta, A, B, delta_bias)
    log_a, x = scan_terms(u, delta, A, B, delta_bias, delta_softplus,
                          softplus=softplus_onnx)
    return linear_scan_onnx(log_a, x)  # batch, D, N, L
