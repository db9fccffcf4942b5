"""Selective scan (states only) in plain PyTorch: the oracle and the fallback.

``selective_scan_states_reference`` returns every state of the diagonal SSM

    Δ   = softplus(delta + delta_bias)         (or delta + delta_bias)
    h_t = exp(Δ_t·A) · h_{t-1} + Δ_t · B_t · u_t,   h_0 = 0

for all ``t``, for any state size ``N``. It is built from differentiable torch
ops (autograd gives du, ddelta, dA, dB, ddelta_bias) and has no Python loop
over the sequence: the linear recurrence ``h_t = a_t·h_{t-1} + x_t`` is solved
by a chunked scan (:func:`linear_scan`).

Precision: fp16 / bf16 / fp32 inputs are computed in fp32 and the states are
returned in fp32. If any input is fp64 everything is computed and returned in
fp64 (for gradcheck).
"""
import torch
import torch.nn.functional as F

from ..dtypes import compute_dtype
from .checks import check_scan_args

# Chunk length of the scan: each level runs a Python loop of this many steps
# over tensors holding every chunk, then recurses on a sequence this many
# times shorter (ceil(log_T L) levels), so no loop grows with L.
_CHUNK = 16


def _scan_steps(a, x):
    """``h_t = a_t · h_{t-1} + x_t`` along the FIRST (short) dim, h_0 = 0.

    The step dim leads so every ``a[t]``, ``x[t]`` is a contiguous slab.
    ``unbind`` (not ``a[t]``) so that backward stacks the step gradients once
    instead of scattering each into a zero tensor of the full size.
    """
    a, x = a.unbind(0), x.unbind(0)
    state = x[0]
    states = [state]
    for t in range(1, len(x)):
        state = a[t] * state + x[t]
        states.append(state)
    return torch.stack(states)


def linear_scan(log_a, x, chunk=None):
    """All states of ``h_t = exp(log_a_t)·h_{t-1} + x_t``, h_0 = 0, last dim.

    Two-level chunked scan. The sequence is cut into chunks of ``T = chunk``
    (default ``_CHUNK``) steps; every chunk is scanned from a zero state at
    once (a loop over the ``T`` steps, vectorised over chunks). With ``c_t``
    the in-chunk cumulative log-decay and ``h_in`` the state entering the
    chunk,

        h_t = local_t + exp(c_t) · h_in.

    The entry states obey the same recurrence one level up (decay = a chunk's
    total log-decay, input = its zero-start end state), so they come from a
    recursive call on a sequence ``T`` times shorter. Only per-step decays
    ``exp(log_a_t)`` and their in-chunk products ``exp(c_t)`` are formed,
    never a ratio of decays, so a large decay (``log_a << 0``) underflows to 0
    instead of overflowing: stable for ``log_a <= 0``, and exact for any sign
    while the true states are finite.
    """
    chunk = _CHUNK if chunk is None else chunk
    length = x.shape[-1]
    if length <= chunk:
        if length == 0:
            return x
        states = _scan_steps(log_a.exp().movedim(-1, 0), x.movedim(-1, 0))
        return states.movedim(0, -1)
    chunks = -(-length // chunk)
    pad = chunks * chunk - length
    if pad:  # padded steps: no decay, no input; cropped at the end
        log_a = F.pad(log_a, (0, pad))
        x = F.pad(x, (0, pad))
    # step-major chunk layout: T, ..., nc (contiguous per step)
    log_a = log_a.unflatten(-1, (chunks, chunk)).movedim(-1, 0).contiguous()
    x = x.unflatten(-1, (chunks, chunk)).movedim(-1, 0).contiguous()
    local = _scan_steps(log_a.exp(), x)  # T, ..., nc  (zero-start per chunk)
    cum = log_a.cumsum(0)  # T, ..., nc   (c_t)
    # state entering chunk i = global state at the end of chunk i - 1
    ends = linear_scan(cum[-1], local[-1], chunk)  # ..., nc
    entry = F.pad(ends[..., :-1], (1, 0))  # ..., nc
    states = local + cum.exp() * entry  # T, ..., nc
    return states.movedim(0, -1).flatten(-2)[..., :length]


def scan_terms(u, delta, A, B, delta_bias=None, delta_softplus=True,
               softplus=F.softplus):
    """The recurrence's terms ``(log_a, x)``, both ``batch × D × N × L`` in
    the compute dtype: ``log_a = Δ·A`` and ``x = Δ·B·u`` (arguments as for
    :func:`selective_scan_states_reference`, already checked; ``softplus``:
    the function applied when ``delta_softplus``)."""
    ctype = compute_dtype(u, delta, A, B, delta_bias)
    u, delta, A, B = (t.to(ctype) for t in (u, delta, A, B))
    if B.dim() == 4:
        B = B.squeeze(1)  # batch, N, L
    if delta_bias is not None:
        delta = delta + delta_bias.to(ctype)[:, None]
    if delta_softplus:
        delta = softplus(delta)  # batch, D, L
    log_a = delta[:, :, None, :] * A[None, :, :, None]  # batch, D, N, L
    x = (delta * u)[:, :, None, :] * B[:, None, :, :]  # batch, D, N, L
    return log_a, x


def selective_scan_states_reference(u, delta, A, B, delta_bias=None,
                                    delta_softplus=True):
    """Every state of the selective scan.

    Args:
        u, delta: ``batch × D × L``.
        A: ``D × N``.
        B: ``batch × N × L`` or ``batch × 1 × N × L`` (one group).
        delta_bias: optional ``D``, added to delta before the softplus.
        delta_softplus: apply ``F.softplus`` (threshold 20) to delta.

    Returns:
        h: ``batch × D × N × L`` in fp32 (fp64 if any input is fp64).
    """
    check_scan_args(u, delta, A, B, delta_bias)
    log_a, x = scan_terms(u, delta, A, B, delta_bias, delta_softplus)
    return linear_scan(log_a, x).contiguous()  # batch, D, N, L
