"""The carry pass of the chunked selective scan, and the scan's combine.

Each row of the scan (one ``(batch, d, n)``) is a linear recurrence
``s_c = P_c · s_{c-1} + E_c`` over its chunks ``c`` once every chunk has
been reduced to its summary: ``P_c``, the product of the chunk's decays,
and ``E_c``, the chunk's end state from a zero start (for the adjoint, read
the chunks from the last down). :func:`propagate_carries` solves it in
place: ``E_c`` becomes ``s_c``, the true state at the end of chunk ``c``.

One program owns ``BLOCK_R`` rows and walks their chunks in blocks of
``BLOCK_C``: a ``tl.associative_scan`` over each block, the state carried
from block to block. The summaries are two numbers per row and chunk (a
256-step chunk makes them 1/128 of the states), so this pass is small.
"""
import triton
import triton.language as tl

from ..triton.common import block_size, launch

# Largest row / chunk blocks of the carry pass.
MAX_BLOCK_R = 16
MAX_BLOCK_C = 64


@triton.jit
def combine(decay_1, x_1, decay_2, x_2):
    """Compose two steps of ``h = decay · h_prev + x`` (1 then 2)."""
    return decay_1 * decay_2, decay_2 * x_1 + x_2


@triton.jit
def column(tile, select):
    """``tile[:, j]`` for the one ``j`` where the vector ``select`` is set
    (a sum of one term: exact)."""
    return tl.sum(tl.where(select[None, :], tile, 0.0), axis=1)


@triton.jit
def _carry_kernel(decay_ptr, state_ptr, ROWS, CHUNKS,
                  REVERSE: tl.constexpr, BLOCK_R: tl.constexpr,
                  BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < ROWS  # BLOCK_R
    last = tl.arange(0, BLOCK_C) == BLOCK_C - 1  # BLOCK_C
    carry = tl.zeros((BLOCK_R, ), state_ptr.dtype.element_ty)
    for c0 in range(0, CHUNKS, BLOCK_C):
        step = c0 + tl.arange(0, BLOCK_C)  # BLOCK_C, in scan order
        mask = row_mask[:, None] & (step < CHUNKS)[None, :]
        chunk = CHUNKS - 1 - step if REVERSE else step
        offsets = rows[:, None] * CHUNKS + chunk[None, :]  # BLOCK_R, BLOCK_C
        # padding: decay 1, input 0 (the state passes through)
        decay = tl.load(decay_ptr + offsets, mask=mask, other=1)
        x = tl.load(state_ptr + offsets, mask=mask, other=0)
        cum, local = tl.associative_scan((decay, x), 1, combine)
        state = local + cum * carry[:, None]  # BLOCK_R, BLOCK_C
        tl.store(state_ptr + offsets, state, mask=mask)
        carry = column(state, last)


def propagate_carries(decay, state, reverse):
    """Turn chunk summaries into chunk states, in place.

    Args:
        decay, state: contiguous ``rows × chunks`` (any leading dims before
            the last), the compute dtype: every chunk's total decay ``P_c``
            and zero-start end state ``E_c``.
        reverse: the recurrence runs from the last chunk to the first.

    ``state`` then holds ``s_c = P_c · s_{c-1} + E_c`` (``P_c · s_{c+1} +
    E_c`` if ``reverse``), the state leaving chunk c given all chunks
    before it in the scan order.
    """
    chunks = state.shape[-1]
    rows = state.numel() // chunks
    block_r = block_size(rows, MAX_BLOCK_R)
    launch(_carry_kernel, (triton.cdiv(rows, block_r), ), decay, state, rows,
           chunks, REVERSE=reverse, BLOCK_R=block_r,
           BLOCK_C=block_size(chunks, MAX_BLOCK_C))
