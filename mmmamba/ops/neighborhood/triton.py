"""2-D neighborhood attention ``av`` as Triton kernels, forward and backward.

``out[q] = Σ_k attn[q, k] · v[nbr(q, k)]`` with the NATTEN (<= 0.17) window
rule of :mod:`mmmamba.ops.triton.window`. The three kernels take every tensor through its 5-D
strides (``B × heads × rows × cols × channels``) and three extents, so the
fused A2SSM aggregation can run them on permuted views of the states:

- the map ``H × W`` that the window rule sees (attn's rows × cols);
- the value extent ``Hv × Wv <= H × W``: keys beyond it are zero;
- the query extent ``Hq × Wq <= H × W`` of out / grad: queries beyond it
  are not computed (forward) or have a zero gradient (backward).

Kernels (a tile is ``BLOCK_Q`` consecutive positions of the flattened
``B · heads · rows · cols``, so one tile may span heads):

- forward: a tile of queries × ``BLOCK_C`` channels, a loop over the
  ``Kh·Kw`` neighbours gathering value rows. Grid
  ``(ceil(B·heads·Hq·Wq / BLOCK_Q), ceil(C / BLOCK_C))``.
- dattn: ``dattn[q, k] = grad[q] · v[nbr(q, k)]``, a tile of queries of the
  whole map, loops over neighbours and channel blocks. Grid
  ``(ceil(B·heads·H·W / BLOCK_Q),)``.
- dvalue: the inverse-neighbour walk, no atomics: a tile of keys ×
  ``BLOCK_C`` channels loops over the run of query rows × query columns
  that see each key (:func:`.window.inverse_window`; the loop bounds are
  the tile's longest runs) and sums ``attn[q, k(q, p)] · grad[q]``. Grid
  ``(ceil(B·heads·Hv·Wv / BLOCK_Q), ceil(C / BLOCK_C))``.

fp16 / bf16 / fp32 are computed in fp32 (fp64 in fp64) and stored in the
output tensor's dtype.
"""
import math

import triton
import triton.language as tl

from ..triton.common import block_size, compute_dtypes, launch
from ..triton.window import inverse_window, window_start

# Largest position / channel blocks (the interpreter's cost is per program
# and per operation, so it takes one block of up to INTERPRET_BLOCK).
MAX_BLOCK_Q = 64
MAX_BLOCK_C = 64
INTERPRET_BLOCK = 4096


@triton.jit
def _positions(ROWS, COLS, HEADS, total, BLOCK_Q: tl.constexpr):
    """This program's ``BLOCK_Q`` positions of the flat ``B·heads·ROWS·COLS``.

    Returns ``(mask, batch (int64), head, row, col)``, ``BLOCK_Q`` each.
    """
    flat = tl.program_id(0) * BLOCK_Q + tl.arange(0, BLOCK_Q)  # BLOCK_Q
    head_and_batch = flat // (ROWS * COLS)
    pos = flat % (ROWS * COLS)
    return (flat < total, (head_and_batch // HEADS).to(tl.int64),
            head_and_batch % HEADS, pos // COLS, pos % COLS)


@triton.jit
def _av_forward_kernel(
        attn_ptr, value_ptr, out_ptr, HEADS, C, H, W, HQ, WQ, HV, WV,
        DIL_H, DIL_W, total, sa_b, sa_h, sa_i, sa_j, sa_k, sv_b, sv_h, sv_i,
        sv_j, sv_c, so_b, so_h, so_i, so_j, so_c, KH: tl.constexpr,
        KW: tl.constexpr, ACC: tl.constexpr, BLOCK_Q: tl.constexpr,
        BLOCK_C: tl.constexpr):
    q_mask, b, h, i, j = _positions(HQ, WQ, HEADS, total, BLOCK_Q)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)  # BLOCK_C
    c_mask = (c < C)[None, :]  # 1, BLOCK_C
    # first neighbour row / col of every query (absolute positions)
    row0 = i % DIL_H + window_start(i, H, KH, DIL_H) * DIL_H  # BLOCK_Q
    col0 = j % DIL_W + window_start(j, W, KW, DIL_W) * DIL_W  # BLOCK_Q
    attn_row = attn_ptr + b * sa_b + h * sa_h + i * sa_i + j * sa_j
    value_ptr += (b * sv_b + h * sv_h)[:, None] + c[None, :] * sv_c
    acc = tl.zeros((BLOCK_Q, BLOCK_C), ACC)
    for ki in range(KH):
        ni = row0 + ki * DIL_H  # BLOCK_Q: key rows
        row_mask = q_mask & (ni < HV)
        row_ptr = value_ptr + (ni * sv_i)[:, None]  # BLOCK_Q, BLOCK_C
        for kj in range(KW):
            nj = col0 + kj * DIL_W  # BLOCK_Q: key cols
            weight = tl.load(attn_row + (ki * KW + kj) * sa_k, mask=q_mask,
                             other=0).to(ACC)  # BLOCK_Q
            v = tl.load(row_ptr + (nj * sv_j)[:, None],
                        mask=(row_mask & (nj < WV))[:, None] & c_mask,
                        other=0).to(ACC)  # BLOCK_Q, BLOCK_C
            acc += weight[:, None] * v
    out = (out_ptr + (b * so_b + h * so_h + i * so_i + j * so_j)[:, None] +
           c[None, :] * so_c)  # BLOCK_Q, BLOCK_C
    tl.store(out, acc.to(out_ptr.dtype.element_ty),
             mask=q_mask[:, None] & c_mask)


@triton.jit
def _av_dattn_kernel(
        grad_ptr, value_ptr, dattn_ptr, HEADS, C, H, W, HQ, WQ, HV, WV,
        DIL_H, DIL_W, total, sg_b, sg_h, sg_i, sg_j, sg_c, sv_b, sv_h, sv_i,
        sv_j, sv_c, sd_b, sd_h, sd_i, sd_j, sd_k, KH: tl.constexpr,
        KW: tl.constexpr, ACC: tl.constexpr, BLOCK_Q: tl.constexpr,
        BLOCK_C: tl.constexpr):
    q_mask, b, h, i, j = _positions(H, W, HEADS, total, BLOCK_Q)
    g_mask = q_mask & (i < HQ) & (j < WQ)  # zero grad beyond the extent
    row0 = i % DIL_H + window_start(i, H, KH, DIL_H) * DIL_H  # BLOCK_Q
    col0 = j % DIL_W + window_start(j, W, KW, DIL_W) * DIL_W  # BLOCK_Q
    grad_ptr += (b * sg_b + h * sg_h + i * sg_i + j * sg_j)[:, None]
    value_ptr += (b * sv_b + h * sv_h)[:, None]  # BLOCK_Q, 1
    dattn_row = dattn_ptr + b * sd_b + h * sd_h + i * sd_i + j * sd_j
    for ki in range(KH):
        ni = row0 + ki * DIL_H  # BLOCK_Q: key rows
        row_mask = g_mask & (ni < HV)
        for kj in range(KW):
            nj = col0 + kj * DIL_W  # BLOCK_Q: key cols
            key_mask = (row_mask & (nj < WV))[:, None]  # BLOCK_Q, 1
            key_ptr = value_ptr + (ni * sv_i + nj * sv_j)[:, None]
            acc = tl.zeros((BLOCK_Q, ), ACC)
            for c0 in range(0, C, BLOCK_C):
                c = c0 + tl.arange(0, BLOCK_C)  # BLOCK_C
                c_mask = (c < C)[None, :]  # 1, BLOCK_C
                g = tl.load(grad_ptr + c[None, :] * sg_c,
                            mask=g_mask[:, None] & c_mask,
                            other=0).to(ACC)  # BLOCK_Q, BLOCK_C
                v = tl.load(key_ptr + c[None, :] * sv_c,
                            mask=key_mask & c_mask,
                            other=0).to(ACC)  # BLOCK_Q, BLOCK_C
                acc += tl.sum(g * v, axis=1)
            tl.store(dattn_row + (ki * KW + kj) * sd_k,
                     acc.to(dattn_ptr.dtype.element_ty), mask=q_mask)


@triton.jit
def _av_dvalue_kernel(
        grad_ptr, attn_ptr, dvalue_ptr, HEADS, C, H, W, HQ, WQ, HV, WV,
        DIL_H, DIL_W, total, sg_b, sg_h, sg_i, sg_j, sg_c, sa_b, sa_h, sa_i,
        sa_j, sa_k, sd_b, sd_h, sd_i, sd_j, sd_c, KH: tl.constexpr,
        KW: tl.constexpr, ACC: tl.constexpr, BLOCK_Q: tl.constexpr,
        BLOCK_C: tl.constexpr):
    p_mask, b, h, pi, pj = _positions(HV, WV, HEADS, total, BLOCK_Q)  # keys
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)  # BLOCK_C
    c_mask = (c < C)[None, :]  # 1, BLOCK_C
    first_i, count_i = inverse_window(pi, H, KH, DIL_H)  # group indices
    first_j, count_j = inverse_window(pj, W, KW, DIL_W)
    count_i = tl.where(p_mask, count_i, 0)
    count_j = tl.where(p_mask, count_j, 0)
    # first query row / col that sees each key (absolute positions)
    row0 = pi % DIL_H + first_i * DIL_H  # BLOCK_Q
    col0 = pj % DIL_W + first_j * DIL_W  # BLOCK_Q
    grad_ptr += (b * sg_b + h * sg_h)[:, None] + c[None, :] * sg_c
    attn_ptr += b * sa_b + h * sa_h  # BLOCK_Q
    acc = tl.zeros((BLOCK_Q, BLOCK_C), ACC)
    for oi in range(0, tl.max(count_i, axis=0)):
        qi = row0 + oi * DIL_H  # BLOCK_Q: query rows
        ki = pi // DIL_H - window_start(qi, H, KH, DIL_H)  # p's row in qi's
        row_mask = (oi < count_i) & (qi < HQ)
        row_attn = attn_ptr + qi * sa_i + ki * KW * sa_k  # BLOCK_Q
        row_grad = grad_ptr + (qi * sg_i)[:, None]  # BLOCK_Q, BLOCK_C
        for oj in range(0, tl.max(count_j, axis=0)):
            qj = col0 + oj * DIL_W  # BLOCK_Q: query cols
            kj = pj // DIL_W - window_start(qj, W, KW, DIL_W)
            q_mask = row_mask & (oj < count_j) & (qj < WQ)
            weight = tl.load(row_attn + qj * sa_j + kj * sa_k, mask=q_mask,
                             other=0).to(ACC)  # BLOCK_Q
            g = tl.load(row_grad + (qj * sg_j)[:, None],
                        mask=q_mask[:, None] & c_mask,
                        other=0).to(ACC)  # BLOCK_Q, BLOCK_C
            acc += weight[:, None] * g
    dvalue = (dvalue_ptr + (b * sd_b + h * sd_h + pi * sd_i +
                            pj * sd_j)[:, None] +
              c[None, :] * sd_c)  # BLOCK_Q, BLOCK_C
    tl.store(dvalue, acc.to(dvalue_ptr.dtype.element_ty),
             mask=p_mask[:, None] & c_mask)


def _blocks(positions, channels):
    """``(BLOCK_Q, BLOCK_C)`` for ``positions`` flat positions × channels."""
    block_c = block_size(channels, MAX_BLOCK_C)
    cap = (max(2, INTERPRET_BLOCK // block_c)
           if triton.knobs.runtime.interpret else MAX_BLOCK_Q)
    return block_size(positions, cap), block_c


def _window_args(attn, value, queries, dilation):
    """``HEADS, C, H, W, HQ, WQ, HV, WV, DIL_H, DIL_W`` of a launch."""
    heads, height, width = attn.shape[1:4]
    return (heads, value.shape[-1], height, width, *queries.shape[2:4],
            *value.shape[2:4], *dilation)


def _launch(kernel_fn, positions, tensors, window, compute_like, kernel,
            channel_grid):
    """Launch ``kernel_fn`` over the ``B × heads × rows × cols`` of
    ``positions``, passing ``tensors`` with their strides; channel blocks
    go on grid axis 1 if ``channel_grid``, else into the kernel's loop."""
    total = math.prod(positions.shape[:4])  # B·heads·rows·cols
    channels = window[1]  # C
    _, acc = compute_dtypes(compute_like)
    block_q, block_c = _blocks(total, channels)
    grid = (triton.cdiv(total, block_q),
            triton.cdiv(channels, block_c) if channel_grid else 1)
    strides = [s for t in tensors for s in t.stride()]
    launch(kernel_fn, grid, *tensors, *window, total, *strides, KH=kernel[0],
           KW=kernel[1], ACC=acc, BLOCK_Q=block_q, BLOCK_C=block_c)


def av_forward_into(attn, value, out, kernel, dilation):
    """Write ``na2d_av`` into ``out`` (any strides), extents from shapes.

    Args:
        attn: ``B × heads × H × W × Kh·Kw`` (its ``H × W`` is the map).
        value: ``B × heads × Hv × Wv × C`` view; keys beyond it are zero.
        out: ``B × heads × Hq × Wq × C`` view; only these queries are
            computed.
        kernel, dilation: ``(h, w)`` int pairs.
    """
    _launch(_av_forward_kernel, out, (attn, value, out),
            _window_args(attn, value, out, dilation), value, kernel, True)


def av_dattn_into(grad, value, dattn, kernel, dilation):
    """Write dattn (``B × heads × H × W × Kh·Kw``, all of the map).

    ``grad`` (``B × heads × Hq × Wq × C`` view) is zero beyond its extent,
    ``value`` (``B × heads × Hv × Wv × C`` view) beyond its own.
    """
    _launch(_av_dattn_kernel, dattn, (grad, value, dattn),
            _window_args(dattn, value, grad, dilation), value, kernel, False)


def av_dvalue_into(grad, attn, dvalue, kernel, dilation):
    """Write dvalue (``B × heads × Hv × Wv × C`` view) by the inverse walk.

    ``attn``'s ``H × W`` is the map; ``grad`` (``B × heads × Hq × Wq × C``
    view) is zero beyond its extent.
    """
    _launch(_av_dvalue_kernel, dvalue, (grad, attn, dvalue),
            _window_args(attn, dvalue, grad, dilation), dvalue, kernel, True)


def na2d_av_forward(attn, value, kernel, dilation):
    """``na2d_av``: ``Σ_k attn[..., k] · v_k`` (arguments already checked).

    Args:
        attn: ``B × heads × H × W × Kh·Kw``; value: ``B × heads × H × W × C``
            (any strides, same dtype); kernel, dilation: ``(h, w)`` pairs.

    Returns:
        ``B × heads × H × W × C`` in value's dtype.
    """
    out = value.new_empty(value.shape)
    if out.numel() > 0:
        av_forward_into(attn, value, out, kernel, dilation)
    return out


def na2d_av_backward(grad, attn, value, kernel, dilation):
    """Gradients of :func:`na2d_av_forward` → ``(dattn, dvalue)``.

    ``grad`` is ``B × heads × H × W × C`` (any strides); the results have the
    dtypes of attn and value.
    """
    dattn = attn.new_empty(attn.shape)
    dvalue = value.new_empty(value.shape)
    if value.numel() > 0:
        av_dattn_into(grad, value, dattn, kernel, dilation)
        av_dvalue_into(grad, attn, dvalue, kernel, dilation)
    return dattn, dvalue
