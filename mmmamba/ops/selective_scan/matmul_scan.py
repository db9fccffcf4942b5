"""The reference scan's recurrence with each chunk solved by one matmul.

:func:`linear_scan_matmul` computes what
:func:`~mmmamba.ops.selective_scan.reference.linear_scan` computes (same
chunks, same entry-state recursion, same stability for ``log_a <= 0``), but
solves a chunk with a ``T × T`` decay matrix instead of a Python loop over
its ``T`` steps: a handful of graph nodes per level instead of ``T``
unrolled steps, built from ops ONNX has (CumSum, Exp, Where, MatMul), with
every shape a static Python int. It is the formulation used while exporting
to ONNX (see :func:`mmmamba.ops.selective_scan_states`); eager PyTorch keeps the loop,
which needs ``T`` times less memory.
"""
import torch
import torch.nn.functional as F

from .checks import check_scan_args
from .reference import _CHUNK, scan_terms


def chunk_decay(log_a):
    """``D[..., t, s] = exp(Σ_{s < r <= t} log_a[..., r])`` for ``s <= t``,
    0 above the diagonal: ``... × T`` → ``... × T × T``.

    Each entry is a sum of the steps between ``s`` and ``t`` (a masked
    cumsum, as Mamba-2's ``segsum``), never a difference of two cumulative
    sums, so it is <= 1 for ``log_a <= 0`` and loses no precision when the
    cumulative decay is large.
    """
    steps = log_a.shape[-1]
    ones = torch.ones(steps, steps, dtype=torch.bool, device=log_a.device)
    after = ones.tril(-1)  # r > s: the steps between s and t, row r
    rows = log_a.unsqueeze(-1).expand(*log_a.shape, steps)  # ..., T(r), T(s)
    sums = torch.where(after, rows, 0).cumsum(-2)  # ..., T(t), T(s)
    return torch.where(ones.tril(), sums.exp(), 0)  # ..., T, T


def linear_scan_matmul(log_a, x, chunk=None):
    """All states of ``h_t = exp(log_a_t)·h_{t-1} + x_t``, h_0 = 0, last dim.

    Same contract and chunking as ``linear_scan``: a chunk's zero-start
    states are ``chunk_decay(log_a) @ x``; the states entering the chunks
    come from a recursive call on the chunk totals, ``T`` times shorter.
    """
    chunk = _CHUNK if chunk is None else chunk
    *lead, length = x.shape
    if length == 0:
        return x
    # sizes are traced values during export: no floor division of negatives
    # (ONNX's integer Div truncates)
    chunks = (length + chunk - 1) // chunk
    steps = chunk if chunks > 1 else length
    pad = chunks * steps - length
    if pad:  # padded steps: no decay, no input; cropped at the end
        log_a = F.pad(log_a, (0, pad))
        x = F.pad(x, (0, pad))
    log_a = log_a.reshape(*lead, chunks, steps)  # ..., nc, T
    x = x.reshape(*lead, chunks, steps)  # ..., nc, T
    local = (chunk_decay(log_a) @ x.unsqueeze(-1)).squeeze(-1)  # ..., nc, T
    if chunks > 1:
        cum = log_a.cumsum(-1)  # ..., nc, T   (c_t)
        last = steps - 1
        # state entering chunk i = global state at the end of chunk i - 1
        ends = linear_scan_matmul(cum.select(-1, last),
                                  local.select(-1, last), chunk)  # ..., nc
        entry = F.pad(ends.narrow(-1, 0, chunks - 1), (1, 0))  # ..., nc
        local = local + cum.exp() * entry.unsqueeze(-1)  # ..., nc, T
    return local.reshape(*lead, chunks * steps).narrow(-1, 0, length)


def selective_scan_states_matmul(u, delta, A, B, delta_bias=None,
                                 delta_softplus=True):
    """``selective_scan_states_reference`` with :func:`linear_scan_matmul`
    (same arguments, checks and result)."""
    check_scan_args(u, delta, A, B, delta_bias)
    log_a, x = scan_terms(u, delta, A, B, delta_bias, delta_softplus)
    return linear_scan_matmul(log_a, x).contiguous()  # batch, D, N, L
