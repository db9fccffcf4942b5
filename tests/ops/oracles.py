"""Brute-force definitions of the ops, in float64 Python loops, sharing no
code with ``mmmamba.ops``: the oracles of the reference tests.

The window rule is written from the NATTEN <= 0.17 definition (list the
dilation group, take K consecutive members starting at
``clamp(j - K//2, 0, m - K)``); the scan is one step at a time.
"""
import torch
import torch.nn.functional as F


def pair(value):
    """``int`` or ``(h, w)`` → ``(h, w)``."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def window_1d(i, n, kernel, dilation):
    """(absolute neighbours, group offsets) of position i, by definition."""
    group = list(range(i % dilation, n, dilation))  # i's dilation group
    j = group.index(i)
    start = min(max(j - kernel // 2, 0), len(group) - kernel)
    members = range(start, start + kernel)
    return [group[g] for g in members], [g - j for g in members]


def brute_qk(q, k, kernel_size, dilation, rpb=None):
    """na2d_qk logits ``B × heads × H × W × Kh·Kw`` in float64."""
    (kh, kw), (dh, dw) = pair(kernel_size), pair(dilation)
    batch, heads, height, width, _ = q.shape
    q, k = q.double(), k.double()
    out = torch.zeros(batch, heads, height, width, kh * kw,
                      dtype=torch.float64)
    for i in range(height):
        rows, row_off = window_1d(i, height, kh, dh)
        for j in range(width):
            cols, col_off = window_1d(j, width, kw, dw)
            for ki in range(kh):
                for kj in range(kw):
                    key = k[:, :, rows[ki], cols[kj]]  # B, heads, dim
                    logit = (q[:, :, i, j] * key).sum(-1)
                    if rpb is not None:
                        logit = logit + rpb[:, kh - 1 + row_off[ki],
                                            kw - 1 + col_off[kj]].double()
                    out[:, :, i, j, ki * kw + kj] = logit
    return out


def brute_av(attn, v, kernel_size, dilation):
    """na2d_av output ``B × heads × H × W × dim`` in float64."""
    (kh, kw), (dh, dw) = pair(kernel_size), pair(dilation)
    height, width = v.shape[2:4]
    attn, v = attn.double(), v.double()
    out = torch.zeros(v.shape, dtype=torch.float64)
    for i in range(height):
        rows, _ = window_1d(i, height, kh, dh)
        for j in range(width):
            cols, _ = window_1d(j, width, kw, dw)
            for ki in range(kh):
                for kj in range(kw):
                    out[:, :, i, j] += (attn[:, :, i, j, ki * kw + kj, None] *
                                        v[:, :, rows[ki], cols[kj]])
    return out


def sequential_linear_scan(log_a, x):
    """``h_t = exp(log_a_t)·h_{t-1} + x_t``, h_0 = 0, over the last dim."""
    h, states = torch.zeros_like(x[..., 0]), []
    for t in range(x.shape[-1]):
        h = log_a[..., t].exp() * h + x[..., t]
        states.append(h)
    return torch.stack(states, -1)


def brute_scan(u, delta, A, B, delta_bias=None, delta_softplus=True):
    """h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t, one step at a time, float64:
    ``batch × D × N × L``."""
    u, delta, A, B = (t.double() for t in (u, delta, A, B))
    if B.dim() == 4:
        B = B[:, 0]
    if delta_bias is not None:
        delta = delta + delta_bias.double()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, channels, length = u.shape
    h = torch.zeros(batch, channels, A.shape[1], dtype=torch.float64)
    states = []
    for t in range(length):
        dt = delta[:, :, t, None]  # batch, D, 1
        h = torch.exp(dt * A) * h + dt * B[:, None, :, t] * u[:, :, t, None]
        states.append(h)
    if not states:
        return h.new_zeros(batch, channels, A.shape[1], 0)
    return torch.stack(states, dim=-1)  # batch, D, N, L
