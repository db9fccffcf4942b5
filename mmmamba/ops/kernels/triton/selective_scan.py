"""Selective scan (all states) as Triton kernels, forward and backward.

    Δ_t = softplus(delta_t + delta_bias)      (or delta_t + delta_bias)
    h_t = exp(Δ_t·A) · h_{t-1} + Δ_t · B_t · u_t,      h_0 = 0

One program owns one ``(batch, state n)`` pair and ``BLOCK_D`` channels and
walks the sequence in blocks of ``BLOCK_L`` steps, carrying the state from
block to block; inside a block the linear recurrence is a
``tl.associative_scan`` over ``(decay, input)`` pairs. Only per-step decays
and their in-block products are formed (never a ratio of decays), so large
decays underflow to 0 instead of overflowing. Grid:
``(batch · N, ceil(D / BLOCK_D))``; any N, any L.

Backward runs the adjoint recurrence ``λ_t = g_t + exp(Δ_{t+1}·A) · λ_{t+1}``
backwards through the sequence (the block is loaded in descending order and
scanned forwards) and forms, per program, the terms of every gradient.
Sums that cross programs are written as partial buffers and added in torch
(deterministic, no atomics): ``du`` and ``ddelta`` per state n
(``N × batch × D × L``), ``dB`` per channel block, ``dA`` per batch.

Inputs may be fp16 / bf16 / fp32 with any strides, each in its own dtype;
they are computed in fp32 and h is fp32. If any input is fp64 everything is
computed in fp64 and h is fp64, like the reference.
"""
import triton
import triton.language as tl

from .common import block_size, compute_dtypes, softplus, softplus_grad

# Largest blocks of the sequence walk (steps) and of channels.
MAX_BLOCK_L = 128
MAX_BLOCK_D = 16


@triton.jit
def _combine(decay_1, x_1, decay_2, x_2):
    """Compose two steps of ``h = decay · h_prev + x`` (1 then 2)."""
    return decay_1 * decay_2, decay_2 * x_1 + x_2


@triton.jit
def _tile(ptr, d, t, s_d, s_l, mask, ACC: tl.constexpr):
    """A ``D × L`` tile of a strided tensor, in the compute dtype."""
    offsets = d[:, None] * s_d + t[None, :] * s_l  # BLOCK_D, BLOCK_L
    return tl.load(ptr + offsets, mask=mask, other=0).to(ACC)


@triton.jit
def _channel_params(A_ptr, bias_ptr, d, n, d_mask, sa_d, sa_n, s_bias,
                    HAS_BIAS: tl.constexpr, ACC: tl.constexpr):
    """``A[d, n]`` and ``delta_bias[d]`` (0 without bias), ``BLOCK_D`` each."""
    a = tl.load(A_ptr + d * sa_d + n * sa_n, mask=d_mask, other=0).to(ACC)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d * s_bias, mask=d_mask, other=0).to(ACC)
    else:
        bias = tl.zeros_like(a)
    return a, bias


@triton.jit
def _step(delta_ptr, d, t, s_d, s_l, mask, bias, SOFTPLUS: tl.constexpr,
          ACC: tl.constexpr):
    """``z = delta + bias`` and the step ``Δ = softplus(z)`` (or z)."""
    z = _tile(delta_ptr, d, t, s_d, s_l, mask, ACC) + bias[:, None]
    if SOFTPLUS:
        dt = softplus(z)
    else:
        dt = z
    return z, dt


@triton.jit
def _scan_forward_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, bias_ptr, h_ptr, D, N, L,
        su_b, su_d, su_l, sz_b, sz_d, sz_l, sa_d, sa_n, sb_b, sb_n, sb_l,
        s_bias, sh_b, sh_d, sh_n, sh_l,
        HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_L: tl.constexpr):
    b = (tl.program_id(0) // N).to(tl.int64)
    n = tl.program_id(0) % N
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)  # BLOCK_D
    d_mask = d < D
    a, bias = _channel_params(A_ptr, bias_ptr, d, n, d_mask, sa_d, sa_n,
                              s_bias, HAS_BIAS, ACC)  # BLOCK_D (both)
    u_ptr += b * su_b
    delta_ptr += b * sz_b
    B_ptr += b * sb_b + n * sb_n
    h_ptr += b * sh_b + n * sh_n
    last = tl.arange(0, BLOCK_L) == BLOCK_L - 1  # BLOCK_L
    carry = tl.zeros((BLOCK_D, ), ACC)  # state entering the block
    for l0 in range(0, L, BLOCK_L):
        t = l0 + tl.arange(0, BLOCK_L)  # BLOCK_L
        mask = d_mask[:, None] & (t < L)[None, :]  # BLOCK_D, BLOCK_L
        _, dt = _step(delta_ptr, d, t, sz_d, sz_l, mask, bias, SOFTPLUS, ACC)
        u = _tile(u_ptr, d, t, su_d, su_l, mask, ACC)  # BLOCK_D, BLOCK_L
        b_t = tl.load(B_ptr + t * sb_l, mask=t < L, other=0).to(ACC)
        # padding steps: decay 1, input 0 (the state passes through)
        decay = tl.where(mask, tl.exp(dt * a[:, None]), 1.0)
        x = dt * u * b_t[None, :]  # BLOCK_D, BLOCK_L
        cum, local = tl.associative_scan((decay, x), 1, _combine)
        h = local + cum * carry[:, None]  # BLOCK_D, BLOCK_L
        tl.store(h_ptr + d[:, None] * sh_d + t[None, :] * sh_l, h, mask=mask)
        carry = tl.sum(tl.where(last[None, :], h, 0.0), axis=1)


@triton.jit
def _scan_backward_kernel(
        grad_ptr, u_ptr, delta_ptr, A_ptr, B_ptr, bias_ptr, h_ptr,
        du_ptr, ddelta_ptr, dA_ptr, dB_ptr, BATCH, D, N, L,
        sg_b, sg_d, sg_n, sg_l, su_b, su_d, su_l, sz_b, sz_d, sz_l,
        sa_d, sa_n, sb_b, sb_n, sb_l, s_bias, sh_b, sh_d, sh_n, sh_l,
        HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_L: tl.constexpr):
    b = (tl.program_id(0) // N).to(tl.int64)
    n = tl.program_id(0) % N
    d_block = tl.program_id(1)
    d = d_block * BLOCK_D + tl.arange(0, BLOCK_D)  # BLOCK_D
    d_mask = d < D
    a, bias = _channel_params(A_ptr, bias_ptr, d, n, d_mask, sa_d, sa_n,
                              s_bias, HAS_BIAS, ACC)  # BLOCK_D (both)
    grad_ptr += b * sg_b + n * sg_n
    u_ptr += b * su_b
    delta_ptr += b * sz_b
    B_ptr += b * sb_b + n * sb_n
    h_ptr += b * sh_b + n * sh_n
    # partial outputs, contiguous: du, ddelta N × BATCH × D × L;
    # dB (D / BLOCK_D) × BATCH × N × L; dA BATCH × D × N
    du_ptr += (n * BATCH + b) * D * L
    ddelta_ptr += (n * BATCH + b) * D * L
    dB_ptr += ((d_block * BATCH + b) * N + n) * L
    last = tl.arange(0, BLOCK_L) == BLOCK_L - 1  # BLOCK_L
    carry = tl.zeros((BLOCK_D, ), ACC)  # adjoint λ after the block
    dA = tl.zeros((BLOCK_D, ), ACC)
    for l0 in range(0, L, BLOCK_L):
        t = L - 1 - l0 - tl.arange(0, BLOCK_L)  # BLOCK_L, descending
        mask = d_mask[:, None] & (t >= 0)[None, :]  # BLOCK_D, BLOCK_L
        next_mask = mask & (t + 1 < L)[None, :]
        prev_mask = mask & (t >= 1)[None, :]
        z, dt = _step(delta_ptr, d, t, sz_d, sz_l, mask, bias, SOFTPLUS, ACC)
        _, dt_next = _step(delta_ptr, d, t + 1, sz_d, sz_l, next_mask, bias,
                           SOFTPLUS, ACC)
        # λ_t = g_t + exp(Δ_{t+1}·A)·λ_{t+1}: a forward scan in this order
        decay_next = tl.where(next_mask, tl.exp(dt_next * a[:, None]), 0.0)
        g = _tile(grad_ptr, d, t, sg_d, sg_l, mask, ACC)
        cum, local = tl.associative_scan((decay_next, g), 1, _combine)
        lam = local + cum * carry[:, None]  # BLOCK_D, BLOCK_L
        carry = tl.sum(tl.where(last[None, :], lam, 0.0), axis=1)
        h_prev = _tile(h_ptr, d, t - 1, sh_d, sh_l, prev_mask, ACC)
        u = _tile(u_ptr, d, t, su_d, su_l, mask, ACC)
        b_t = tl.load(B_ptr + t * sb_l, mask=t >= 0, other=0).to(ACC)
        decay_h = tl.exp(dt * a[:, None]) * h_prev  # ∂h_t/∂(Δ_t·A)
        ddt = lam * (b_t[None, :] * u + decay_h * a[:, None])
        if SOFTPLUS:
            ddt = ddt * softplus_grad(z)
        out = d[:, None] * L + t[None, :]  # BLOCK_D, BLOCK_L
        tl.store(du_ptr + out, lam * dt * b_t[None, :], mask=mask)
        tl.store(ddelta_ptr + out, ddt, mask=mask)
        dA += tl.sum(tl.where(mask, lam * decay_h * dt, 0.0), axis=1)
        dB = tl.sum(tl.where(mask, lam * dt * u, 0.0), axis=0)  # BLOCK_L
        tl.store(dB_ptr + t, dB, mask=t >= 0)
    tl.store(dA_ptr + (b * D + d) * N + n, dA, mask=d_mask)


def _blocks(channels, length):
    """``(BLOCK_D, BLOCK_L)``: short sequences take a shorter block."""
    return (block_size(channels, MAX_BLOCK_D),
            block_size(length, MAX_BLOCK_L))


def _scan_args(u, delta, A, B, delta_bias):
    """Shared launch arguments: B as 3-D, bias pointer, input strides."""
    B3 = B.squeeze(1) if B.dim() == 4 else B  # batch, N, L
    bias = delta if delta_bias is None else delta_bias  # unread w/o bias
    s_bias = 0 if delta_bias is None else delta_bias.stride(0)
    strides = (*u.stride(), *delta.stride(), *A.stride(), *B3.stride(),
               s_bias)
    return B3, bias, strides


def selective_scan_forward(u, delta, A, B, delta_bias, delta_softplus):
    """Every state of the selective scan (arguments already checked).

    Args:
        u, delta: ``batch × D × L``; A: ``D × N``; B: ``batch × N × L`` or
            ``batch × 1 × N × L``; delta_bias: ``D`` or None;
            delta_softplus: apply softplus (threshold 20) to delta + bias.

    Returns:
        h: ``batch × D × N × L`` in fp32 (fp64 if any input is fp64).
    """
    batch, channels, length = u.shape
    state = A.shape[1]
    ctype, acc = compute_dtypes(u, delta, A, B, delta_bias)
    h = u.new_empty((batch, channels, state, length), dtype=ctype)
    if h.numel() == 0:
        return h
    B3, bias, strides = _scan_args(u, delta, A, B, delta_bias)
    block_d, block_l = _blocks(channels, length)
    grid = (batch * state, triton.cdiv(channels, block_d))
    _scan_forward_kernel[grid](
        u, delta, A, B3, bias, h, channels, state, length, *strides,
        *h.stride(), HAS_BIAS=delta_bias is not None,
        SOFTPLUS=bool(delta_softplus), ACC=acc, BLOCK_D=block_d,
        BLOCK_L=block_l)
    return h


def selective_scan_backward(grad, u, delta, A, B, delta_bias, delta_softplus,
                            h):
    """Gradients of :func:`selective_scan_forward` given ``grad`` = dL/dh.

    Args:
        grad, h: ``batch × D × N × L`` (h is the forward's output); the
            others as for :func:`selective_scan_forward`.

    Returns:
        ``(du, ddelta, dA, dB, ddelta_bias or None)`` in the dtypes (and for
        dB the shape) of the inputs.
    """
    batch, channels, length = u.shape
    state = A.shape[1]
    ctype, acc = compute_dtypes(u, delta, A, B, delta_bias)
    block_d, block_l = _blocks(channels, length)
    d_blocks = triton.cdiv(channels, block_d)
    # partial sums; the kernel writes every element unless there is none
    alloc = u.new_empty if h.numel() > 0 else u.new_zeros
    du = alloc((state, batch, channels, length), dtype=ctype)
    ddelta = alloc((state, batch, channels, length), dtype=ctype)
    dA = alloc((batch, channels, state), dtype=ctype)
    dB = alloc((d_blocks, batch, state, length), dtype=ctype)
    if h.numel() > 0:
        B3, bias, strides = _scan_args(u, delta, A, B, delta_bias)
        _scan_backward_kernel[(batch * state, d_blocks)](
            grad, u, delta, A, B3, bias, h, du, ddelta, dA, dB, batch,
            channels, state, length, *grad.stride(), *strides, *h.stride(),
            HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
            ACC=acc, BLOCK_D=block_d, BLOCK_L=block_l)
    ddelta = ddelta.sum(0)  # batch, D, L
    dbias = (None if delta_bias is None else
             ddelta.sum((0, 2)).to(delta_bias.dtype))  # D
    return (du.sum(0).to(u.dtype), ddelta.to(delta.dtype),
            dA.sum(0).to(A.dtype), dB.sum(0).reshape(B.shape).to(B.dtype),
            dbias)
