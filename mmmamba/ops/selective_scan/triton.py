"""Selective scan (all states) as chunk-parallel Triton kernels, fwd and bwd.

    Δ_t = softplus(delta_t + delta_bias)      (or delta_t + delta_bias)
    h_t = exp(Δ_t·A) · h_{t-1} + Δ_t · B_t · u_t,      h_0 = 0

Every ``(batch, d, n)`` row is a linear recurrence ``h_t = a_t·h_{t-1} +
x_t`` along L. L is cut into chunks of ``CHUNK`` steps (a power of two,
shorter for short sequences) and solved in three passes:

1. summary: one program per ``(batch, BLOCK_D channels, chunk)`` scans its
   ``BLOCK_D × CHUNK`` tile (L, the contiguous axis, along the block) from a
   zero state with ``tl.associative_scan`` over ``(decay, input)`` pairs,
   for each n in turn, and writes only the chunk's summary: its total decay
   and its zero-start end state (``batch × D × N × chunks`` each).
2. carry (:mod:`.scan_carry`): the summaries are scanned over the chunks,
   giving the true state at the end of every chunk.
3. states: the programs of pass 1 scan their tiles again from the state
   entering their chunk and write h.

h (fp32, N times the size of u) is written once and never read back; pass
3 re-reads the inputs instead. That moves no more bytes than writing
zero-start states and fixing them up (h written, read and written again,
inputs read once) and fewer for 16-bit inputs or N > 1. A sequence of one
chunk skips passes 1 and 2. Only per-step decays and their in-chunk
products are formed (never a ratio of decays), so large decays underflow
to 0 instead of overflowing.

Backward runs the same three passes on the adjoint ``λ_t = g_t +
exp(Δ_{t+1}·A)·λ_{t+1}`` (``g = dL/dh``) from the end: ``reverse=True``
scans, summaries at each chunk's first step, the carry pass from the last
chunk down. Pass 3 forms every gradient term from λ, h_{t-1} and the
inputs. No atomics: every output element is written by one program and the
cross-program sums are added by torch in a fixed order (deterministic).
du and ddelta (sums over n) are complete in their program, which loops over
n; dB (a sum over d) is written per channel block (``D / BLOCK_D × batch ×
N × L``), dA and ddelta_bias (sums over batch and L) per program
(``batch × chunks × D (× N)``).

Inputs may be fp16 / bf16 / fp32 with any strides, each in its own dtype;
they are computed in fp32 and h is fp32. If any input is fp64 everything is
computed in fp64 and h is fp64, like the reference.

Launch shapes, defaults (CHUNK 256, BLOCK_D 4, 8 warps = 256 threads per
program). As compiled for sm_90 (contiguous inputs) a tile is laid out
4 steps per thread along L, a warp covering 128 steps of one row, two
warps per row: a thread scans its 4 steps in sequence (per n), then 5
shuffle levels within the warp and one combine across the pair of warps.
A2Mamba-T stage 1 (D = 48, N = 1, fp32 inputs), batch 2:

=====================  =====================  =====================
                       3×512×512              3×800×1344
=====================  =====================  =====================
L (chunks)             16,384 (64)            67,200 (263)
passes 1 and 3         1,536 programs each    6,312 programs each
threads (steps each)   393,216 (4)            1,615,872 (4)
carry pass             6 programs × 128 threads; 1 / 5 blocks of 64 chunks,
                       8 chunks per thread per block
forward bytes          31.9 MB                130.7 MB
backward bytes         53.9 MB                221.2 MB
=====================  =====================  =====================

Bytes: forward = u, delta, B read twice, h written once; backward =
grad, delta read twice, h, u, B once, du, ddelta and the dB partials (D /
BLOCK_D of them) written and the partials read back by torch; the chunk
summaries and the carry pass are 0.5 % of it. Registers (ptxas, sm_90,
N = 1): 32 per thread forward, 57 in the backward's pass 3; no spills.
"""
from typing import NamedTuple

import triton
import triton.language as tl

from ..triton.common import (block_size, compute_dtypes, launch, softplus,
                              softplus_grad)
from .triton_carry import column, combine, propagate_carries

# Chunk of the sequence (steps) and channel block of a program; warps.
CHUNK = 256
MAX_BLOCK_D = 4
NUM_WARPS = 8


@triton.jit
def _program_tile(D, L, BLOCK_D: tl.constexpr, CHUNK: tl.constexpr):
    """This program's ``(b (int64), channel block, chunk, d, t)`` and the
    masks ``d < D`` (``BLOCK_D``) and of the tile (``BLOCK_D × CHUNK``).

    Programs are ordered batch, channel block, chunk (fastest).
    """
    chunks = tl.cdiv(L, CHUNK)
    d_blocks = tl.cdiv(D, BLOCK_D)
    chunk = tl.program_id(0) % chunks
    d_block = (tl.program_id(0) // chunks) % d_blocks
    b = (tl.program_id(0) // (chunks * d_blocks)).to(tl.int64)
    d = d_block * BLOCK_D + tl.arange(0, BLOCK_D)  # BLOCK_D
    t = chunk * CHUNK + tl.arange(0, CHUNK)  # CHUNK
    d_mask = d < D
    mask = d_mask[:, None] & (t < L)[None, :]  # BLOCK_D, CHUNK
    return b, d_block, chunk, d, t, d_mask, mask


@triton.jit
def _tile(ptr, d, t, s_d, s_l, mask, ACC: tl.constexpr):
    """A ``D × L`` tile of a strided tensor, in the compute dtype."""
    offsets = d[:, None] * s_d + t[None, :] * s_l  # BLOCK_D, CHUNK
    return tl.load(ptr + offsets, mask=mask, other=0).to(ACC)


@triton.jit
def _rate(A_ptr, d, n, d_mask, sa_d, sa_n, ACC: tl.constexpr):
    """``A[d, n]``, ``BLOCK_D``."""
    return tl.load(A_ptr + d * sa_d + n * sa_n, mask=d_mask, other=0).to(ACC)


@triton.jit
def _bias(bias_ptr, d, d_mask, s_bias, HAS_BIAS: tl.constexpr,
          ACC: tl.constexpr):
    """``delta_bias[d]`` (0 without bias), ``BLOCK_D``."""
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d * s_bias, mask=d_mask, other=0).to(ACC)
    else:
        bias = tl.zeros_like(d).to(ACC)
    return bias


@triton.jit
def _steps(delta_ptr, bias, d, t, s_d, s_l, mask, SOFTPLUS: tl.constexpr,
           ACC: tl.constexpr):
    """``z = delta + bias`` and the step ``Δ = softplus(z)`` (or z)."""
    z = _tile(delta_ptr, d, t, s_d, s_l, mask, ACC) + bias[:, None]
    if SOFTPLUS:
        dt = softplus(z)
    else:
        dt = z
    return z, dt


@triton.jit
def _summary_offsets(b, d, n, chunk, D, N, chunks):
    """Offsets of ``(b, d, n, chunk)`` in the contiguous
    ``batch × D × N × chunks`` summaries, ``BLOCK_D``."""
    return ((b * D + d) * N + n) * chunks + chunk


@triton.jit
def _forward_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, bias_ptr, decay_ptr, state_ptr,
        h_ptr, D, N, L, su_b, su_d, su_l, sz_b, sz_d, sz_l, sa_d, sa_n,
        sb_b, sb_n, sb_l, s_bias, WRITE_H: tl.constexpr,
        HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr,
        BLOCK_D: tl.constexpr, CHUNK: tl.constexpr):
    """Pass 1 (summaries) or, with ``WRITE_H``, pass 3 (states)."""
    b, _, chunk, d, t, d_mask, mask = _program_tile(D, L, BLOCK_D, CHUNK)
    chunks = tl.cdiv(L, CHUNK)
    bias = _bias(bias_ptr, d, d_mask, s_bias, HAS_BIAS, ACC)  # BLOCK_D
    _, dt = _steps(delta_ptr + b * sz_b, bias, d, t, sz_d, sz_l, mask,
                   SOFTPLUS, ACC)  # BLOCK_D, CHUNK
    dt_u = dt * _tile(u_ptr + b * su_b, d, t, su_d, su_l, mask, ACC)
    last = tl.arange(0, CHUNK) == CHUNK - 1  # CHUNK
    for n in range(N):
        a = _rate(A_ptr, d, n, d_mask, sa_d, sa_n, ACC)  # BLOCK_D
        b_t = tl.load(B_ptr + b * sb_b + n * sb_n + t * sb_l, mask=t < L,
                      other=0).to(ACC)  # CHUNK
        # padding steps: decay 1, input 0 (the state passes through)
        decay = tl.where(mask, tl.exp(dt * a[:, None]), 1.0)
        cum, local = tl.associative_scan((decay, dt_u * b_t[None, :]), 1,
                                         combine)  # BLOCK_D, CHUNK (both)
        if WRITE_H:
            entry = _summary_offsets(b, d, n, chunk - 1, D, N, chunks)
            carry = tl.load(state_ptr + entry, mask=d_mask & (chunk > 0),
                            other=0)  # BLOCK_D: the state entering
            rows = (b * D + d) * N + n  # BLOCK_D, rows of h
            tl.store(h_ptr + rows[:, None] * L + t[None, :],
                     local + cum * carry[:, None], mask=mask)
        else:
            out = _summary_offsets(b, d, n, chunk, D, N, chunks)
            tl.store(decay_ptr + out, column(cum, last), mask=d_mask)
            tl.store(state_ptr + out, column(local, last), mask=d_mask)


@triton.jit
def _adjoint_chunk(grad_ptr, a, d, t, mask, next_mask, dt_next, sg_d, sg_l,
                   ACC: tl.constexpr):
    """Zero-end scan of the adjoint over the tile, from its last step:
    ``(Π decay, local λ)``, ``BLOCK_D × CHUNK`` each. Decay 0 after the
    sequence's last step (there is no λ_L)."""
    decay_next = tl.where(next_mask, tl.exp(dt_next * a[:, None]), 0.0)
    g = _tile(grad_ptr, d, t, sg_d, sg_l, mask, ACC)  # BLOCK_D, CHUNK
    return tl.associative_scan((decay_next, g), 1, combine, reverse=True)


@triton.jit
def _backward_summary_kernel(
        grad_ptr, delta_ptr, A_ptr, bias_ptr, decay_ptr, state_ptr, D, N, L,
        sg_b, sg_d, sg_n, sg_l, sz_b, sz_d, sz_l, sa_d, sa_n, s_bias,
        HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr,
        BLOCK_D: tl.constexpr, CHUNK: tl.constexpr):
    """Pass 1 of the backward: every chunk's summary at its first step."""
    b, _, chunk, d, t, d_mask, mask = _program_tile(D, L, BLOCK_D, CHUNK)
    chunks = tl.cdiv(L, CHUNK)
    next_mask = mask & (t + 1 < L)[None, :]
    bias = _bias(bias_ptr, d, d_mask, s_bias, HAS_BIAS, ACC)  # BLOCK_D
    _, dt_next = _steps(delta_ptr + b * sz_b, bias, d, t + 1, sz_d, sz_l,
                        next_mask, SOFTPLUS, ACC)  # BLOCK_D, CHUNK
    first = tl.arange(0, CHUNK) == 0  # CHUNK
    for n in range(N):
        a = _rate(A_ptr, d, n, d_mask, sa_d, sa_n, ACC)  # BLOCK_D
        cum, local = _adjoint_chunk(grad_ptr + b * sg_b + n * sg_n, a, d, t,
                                    mask, next_mask, dt_next, sg_d, sg_l, ACC)
        out = _summary_offsets(b, d, n, chunk, D, N, chunks)
        tl.store(decay_ptr + out, column(cum, first), mask=d_mask)
        tl.store(state_ptr + out, column(local, first), mask=d_mask)


@triton.jit
def _backward_grads_kernel(
        grad_ptr, u_ptr, delta_ptr, A_ptr, B_ptr, bias_ptr, h_ptr, state_ptr,
        du_ptr, ddelta_ptr, dA_ptr, dB_ptr, dbias_ptr, BATCH, D, N, L,
        sg_b, sg_d, sg_n, sg_l, su_b, su_d, su_l, sz_b, sz_d, sz_l,
        sa_d, sa_n, sb_b, sb_n, sb_l, s_bias, sh_b, sh_d, sh_n, sh_l,
        HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr,
        BLOCK_D: tl.constexpr, CHUNK: tl.constexpr):
    """Pass 3 of the backward: λ over the tile and every gradient term.

    Partial outputs (contiguous): dA ``BATCH × chunks × D × N``, dB
    ``D / BLOCK_D × BATCH × N × L``, dbias ``BATCH × chunks × D``.
    """
    b, d_block, chunk, d, t, d_mask, mask = _program_tile(D, L, BLOCK_D,
                                                          CHUNK)
    chunks = tl.cdiv(L, CHUNK)
    next_mask = mask & (t + 1 < L)[None, :]
    prev_mask = mask & (t >= 1)[None, :]
    delta_ptr += b * sz_b
    bias = _bias(bias_ptr, d, d_mask, s_bias, HAS_BIAS, ACC)  # BLOCK_D
    z, dt = _steps(delta_ptr, bias, d, t, sz_d, sz_l, mask, SOFTPLUS, ACC)
    _, dt_next = _steps(delta_ptr, bias, d, t + 1, sz_d, sz_l, next_mask,
                        SOFTPLUS, ACC)  # BLOCK_D, CHUNK
    u = _tile(u_ptr + b * su_b, d, t, su_d, su_l, mask, ACC)
    du = tl.zeros((BLOCK_D, CHUNK), ACC)
    ddt = tl.zeros((BLOCK_D, CHUNK), ACC)  # dL/dΔ
    for n in range(N):
        a = _rate(A_ptr, d, n, d_mask, sa_d, sa_n, ACC)  # BLOCK_D
        cum, local = _adjoint_chunk(grad_ptr + b * sg_b + n * sg_n, a, d, t,
                                    mask, next_mask, dt_next, sg_d, sg_l, ACC)
        leaving = _summary_offsets(b, d, n, chunk + 1, D, N, chunks)
        carry = tl.load(state_ptr + leaving,
                        mask=d_mask & (chunk + 1 < chunks),
                        other=0)  # BLOCK_D: λ after the chunk
        lam = local + cum * carry[:, None]  # BLOCK_D, CHUNK
        h_prev = _tile(h_ptr + b * sh_b + n * sh_n, d, t - 1, sh_d, sh_l,
                       prev_mask, ACC)
        b_t = tl.load(B_ptr + b * sb_b + n * sb_n + t * sb_l, mask=t < L,
                      other=0).to(ACC)  # CHUNK
        decay_h = tl.exp(dt * a[:, None]) * h_prev  # ∂h_t/∂(Δ_t·A)
        lam_dt = lam * dt
        du += lam_dt * b_t[None, :]
        ddt += lam * (b_t[None, :] * u + decay_h * a[:, None])
        dA = tl.sum(tl.where(mask, lam_dt * decay_h, 0.0), axis=1)  # BLOCK_D
        tl.store(dA_ptr + ((b * chunks + chunk) * D + d) * N + n, dA,
                 mask=d_mask)
        dB = tl.sum(tl.where(mask, lam_dt * u, 0.0), axis=0)  # CHUNK
        tl.store(dB_ptr + ((d_block * BATCH + b) * N + n) * L + t, dB,
                 mask=t < L)
    if SOFTPLUS:
        ddt = ddt * softplus_grad(z)
    out = (b * D + d[:, None]) * L + t[None, :]  # BLOCK_D, CHUNK
    tl.store(du_ptr + out, du.to(du_ptr.dtype.element_ty), mask=mask)
    tl.store(ddelta_ptr + out, ddt.to(ddelta_ptr.dtype.element_ty),
             mask=mask)
    tl.store(dbias_ptr + (b * chunks + chunk) * D + d,
             tl.sum(tl.where(mask, ddt, 0.0), axis=1), mask=d_mask)


class _Plan(NamedTuple):
    """Chunking of one call: the chunk, channel block, counts and grid."""
    chunk: int
    block_d: int
    d_blocks: int
    chunks: int
    grid: tuple


def _plan(u, chunk):
    """The :class:`_Plan` of a scan over ``u`` (``batch × D × L``) with
    chunks of at most ``chunk`` steps (a power of two >= 2)."""
    if not isinstance(chunk, int) or chunk < 2 or chunk & (chunk - 1):
        raise ValueError('selective_scan (triton): chunk must be a power of '
                         f'two >= 2, got {chunk!r}.')
    batch, channels, length = u.shape
    chunk = block_size(length, chunk)
    block_d = block_size(channels, MAX_BLOCK_D)
    d_blocks = triton.cdiv(channels, block_d)
    chunks = triton.cdiv(length, chunk)
    return _Plan(chunk, block_d, d_blocks, chunks,
                 (batch * d_blocks * chunks, ))


def _scan_args(u, delta, A, B, delta_bias):
    """Shared launch arguments: B as 3-D, bias pointer, input strides."""
    B3 = B.squeeze(1) if B.dim() == 4 else B  # batch, N, L
    bias = delta if delta_bias is None else delta_bias  # unread w/o bias
    s_bias = 0 if delta_bias is None else delta_bias.stride(0)
    strides = (*u.stride(), *delta.stride(), *A.stride(), *B3.stride(),
               s_bias)
    return B3, bias, strides


def _meta(delta_bias, delta_softplus, acc, plan):
    """Compile-time arguments and launch options shared by the kernels."""
    return dict(HAS_BIAS=delta_bias is not None,
                SOFTPLUS=bool(delta_softplus), ACC=acc, BLOCK_D=plan.block_d,
                CHUNK=plan.chunk, num_warps=NUM_WARPS)


def selective_scan_states_forward(u, delta, A, B, delta_bias,
                                  delta_softplus, *, chunk=CHUNK):
    """Every state of the selective scan (arguments already checked).

    Args:
        u, delta: ``batch × D × L``; A: ``D × N``; B: ``batch × N × L`` or
            ``batch × 1 × N × L``; delta_bias: ``D`` or None;
            delta_softplus: apply softplus (threshold 20) to delta + bias.
        chunk: longest chunk of the sequence (a power of two >= 2).

    Returns:
        h: ``batch × D × N × L`` in fp32 (fp64 if any input is fp64).
    """
    batch, channels, length = u.shape
    state = A.shape[1]
    ctype, acc = compute_dtypes(u, delta, A, B, delta_bias)
    h = u.new_empty((batch, channels, state, length), dtype=ctype)
    plan = _plan(u, chunk)
    if h.numel() == 0:
        return h
    B3, bias, strides = _scan_args(u, delta, A, B, delta_bias)
    # chunk summaries: total decay, end state (then the carried state)
    decay, ends = h.new_empty((2, batch, channels, state, plan.chunks))
    args = (u, delta, A, B3, bias, decay, ends, h, channels, state, length,
            *strides)
    meta = _meta(delta_bias, delta_softplus, acc, plan)
    if plan.chunks > 1:
        launch(_forward_kernel, plan.grid, *args, WRITE_H=False, **meta)
        propagate_carries(decay, ends, reverse=False)
    launch(_forward_kernel, plan.grid, *args, WRITE_H=True, **meta)
    return h


def selective_scan_states_backward(grad, u, delta, A, B, delta_bias,
                                   delta_softplus, h, *, chunk=CHUNK):
    """Gradients of :func:`selective_scan_states_forward`, ``grad`` = dL/dh.

    Args:
        grad, h: ``batch × D × N × L`` (h is the forward's output); the
            others as for :func:`selective_scan_states_forward`.

    Returns:
        ``(du, ddelta, dA, dB, ddelta_bias or None)`` in the dtypes (and for
        dB the shape) of the inputs.
    """
    batch, channels, length = u.shape
    state = A.shape[1]
    ctype, acc = compute_dtypes(u, delta, A, B, delta_bias)
    plan = _plan(u, chunk)
    run = h.numel() > 0
    # the kernels write every element unless there is none to write
    alloc = u.new_empty if run else u.new_zeros
    du = alloc(u.shape)  # batch, D, L
    ddelta = alloc(u.shape, dtype=delta.dtype)  # batch, D, L
    dA = alloc((batch, plan.chunks, channels, state), dtype=ctype)
    dB = alloc((plan.d_blocks, batch, state, length), dtype=ctype)
    dbias = alloc((batch, plan.chunks, channels), dtype=ctype)
    if run:
        B3, bias, strides = _scan_args(u, delta, A, B, delta_bias)
        meta = _meta(delta_bias, delta_softplus, acc, plan)
        # chunk summaries: total decay, λ at the chunk's first step
        decay, lam = h.new_empty((2, batch, channels, state, plan.chunks),
                                 dtype=ctype)
        if plan.chunks > 1:
            launch(_backward_summary_kernel, plan.grid, grad, delta, A, bias,
                   decay, lam, channels, state, length, *grad.stride(),
                   *delta.stride(), *A.stride(), strides[-1], **meta)
            propagate_carries(decay, lam, reverse=True)
        launch(_backward_grads_kernel, plan.grid, grad, u, delta, A, B3, bias,
               h, lam, du, ddelta, dA, dB, dbias, batch, channels, state,
               length, *grad.stride(), *strides, *h.stride(), **meta)
    return (du, ddelta, dA.sum((0, 1)).to(A.dtype),
            dB.sum(0).reshape(B.shape).to(B.dtype),
            None if delta_bias is None else
            dbias.sum((0, 1)).to(delta_bias.dtype))
