"""2-D neighborhood attention in plain PyTorch: the oracle and the fallback.

``na2d_qk_reference`` and ``na2d_av_reference`` follow NATTEN <= 0.17 (layout
``B × heads × H × W × dim``, windows that shift at the border, dilation as
interleaved groups; the rule lives in :mod:`.window`). They are built from
differentiable torch ops only, so autograd gives dq, dk, drpb, dattn and dv.

Precision: fp16 / bf16 inputs are computed in fp32 and the result is cast
back to the input dtype; fp32 and fp64 are computed as they are.

Memory: each call gathers, for a block of query rows, the ``K*K`` neighbours
of every query (``rows × W × K*K × dim`` values). Without autograd the block
is bounded by ``_CHUNK_ELEMENTS``; with autograd every block's gather is kept
for backward, so a full pass holds ``H × W × K*K × dim`` values per
``B × heads`` (≈ 0.8 GB in fp32 at 200 × 334, K = 11, dim = 24).
"""
import torch

from ..dtypes import compute_dtype
from .checks import check_av_args, check_qk_args
from .window import window_tables_2d

# Upper bound on the elements of one gathered block (B·heads·rows·W·K²·dim).
_CHUNK_ELEMENTS = 1 << 24


def _row_blocks(batch_heads, height, width, neighbours, dim):
    """Split the query rows into ranges whose gather fits the chunk budget."""
    per_row = max(1, batch_heads * width * neighbours * dim)
    step = max(1, min(height, _CHUNK_ELEMENTS // per_row))
    return [range(r, min(r + step, height)) for r in range(0, height, step)]


def na2d_qk_reference(query, key, kernel_size, dilation=1, rpb=None):
    """Neighborhood attention logits ``q · k`` (+ relative position bias).

    Args:
        query, key: ``B × heads × H × W × dim``, same shape, dtype, device.
        kernel_size: odd int or ``(Kh, Kw)``.
        dilation: int or ``(δh, δw)``, >= 1. Needs ``H >= Kh·δh`` and
            ``W >= Kw·δw``.
        rpb: optional ``heads × (2Kh-1) × (2Kw-1)`` bias; any float dtype (it
            is added in the compute dtype).

    Returns:
        ``B × heads × H × W × (Kh·Kw)`` logits in ``query.dtype``; the last
        axis lists the neighbours row-major ``(ki, kj)``.
    """
    kernel, dil = check_qk_args(query, key, kernel_size, dilation, rpb)
    batch, heads, height, width, dim = query.shape
    ctype = compute_dtype(query)
    neighbours = kernel[0] * kernel[1]
    q = query.to(ctype).reshape(batch, heads, height * width, dim)
    k = key.to(ctype).reshape(batch, heads, height * width, dim)
    bias = None if rpb is None else rpb.to(ctype).reshape(heads, -1)

    blocks = []
    row_blocks = _row_blocks(batch * heads, height, width, neighbours, dim)
    q_blocks = q.split([len(rows) * width for rows in row_blocks], dim=2)
    for rows, q_blk in zip(row_blocks, q_blocks):  # q_blk: B, h, Lc, d
        nbr, pos = window_tables_2d(rows, width, kernel, dil, height,
                                    query.device)  # Lc, K*K (both)
        count = nbr.shape[0]
        # the K*K neighbour keys of every query in the block
        k_blk = k.index_select(2, nbr.reshape(-1))  # B, h, Lc*K*K, d
        k_blk = k_blk.view(batch, heads, count, neighbours, dim)
        logits = torch.einsum('bhld,bhlkd->bhlk', q_blk, k_blk)  # B,h,Lc,K*K
        if bias is not None:
            # rpb entry of every (query, neighbour) pair
            logits = logits + bias.index_select(1, pos.reshape(-1)).view(
                heads, count, neighbours)  # h, Lc, K*K
        blocks.append(logits)
    attn = torch.cat(blocks, dim=2) if len(blocks) > 1 else blocks[0]
    return attn.reshape(batch, heads, height, width,
                     neighbours).to(query.dtype)


def na2d_av_reference(attn, value, kernel_size, dilation=1):
    """Weighted sum of the neighbour values: ``out = Σ_k attn[..., k] · v_k``.

    Args:
        attn: ``B × heads × H × W × (Kh·Kw)``, neighbours row-major
            ``(ki, kj)`` as returned by :func:`na2d_qk_reference`.
        value: ``B × heads × H × W × dim``, same dtype and device as attn.
        kernel_size, dilation: as for :func:`na2d_qk_reference`.

    Returns:
        ``B × heads × H × W × dim`` in ``value.dtype``.
    """
    kernel, dil = check_av_args(attn, value, kernel_size, dilation)
    batch, heads, height, width, dim = value.shape
    neighbours = kernel[0] * kernel[1]
    ctype = compute_dtype(value)
    a = attn.to(ctype).reshape(batch, heads, height * width, neighbours)
    v = value.to(ctype).reshape(batch, heads, height * width, dim)

    blocks = []
    row_blocks = _row_blocks(batch * heads, height, width, neighbours, dim)
    a_blocks = a.split([len(rows) * width for rows in row_blocks], dim=2)
    for rows, a_blk in zip(row_blocks, a_blocks):  # a_blk: B, h, Lc, K*K
        nbr, _ = window_tables_2d(rows, width, kernel, dil, height,
                                  value.device)  # Lc, K*K
        count = nbr.shape[0]
        # the K*K neighbour values of every query in the block
        v_blk = v.index_select(2, nbr.reshape(-1))  # B, h, Lc*K*K, d
        v_blk = v_blk.view(batch, heads, count, neighbours, dim)
        blocks.append(torch.einsum('bhlk,bhlkd->bhld', a_blk, v_blk))
    out = torch.cat(blocks, dim=2) if len(blocks) > 1 else blocks[0]
    return out.reshape(batch, heads, height, width, dim).to(value.dtype)
