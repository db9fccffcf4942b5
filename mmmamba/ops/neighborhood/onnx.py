"""2-D neighborhood attention as row gathers and matrix products: the
formulation exported to ONNX.

The reference gathers the ``K*K`` neighbours of every query (one Gather of
``K*K`` times the map, then a batched product of ``1 × dim`` rows), which
onnxruntime runs slowly. A window is the product of a row window and a
column window (:mod:`.window`), so here the rows are gathered and the
columns are matrix products:

- the ``Kh`` neighbour rows of every query row are one Gather along H with
  the ``H × Kh`` row table (``Kh`` times the map, contiguous rows);
- the columns are one-hot matrices ``E`` (``W × Kw × W``: ``E[j, k, j'] =
  1`` where ``j'`` is query column ``j``'s ``k``-th key column), so
  ``na2d_qk`` is ``(q @ rowsᵀ) @ Eᵀ`` and ``na2d_av`` is
  ``(attn @ E) @ rows``: four MatMuls, no per-neighbour gather.

Border-shifted windows and dilation live in the tables alone, so the graph
holds standard operators (Gather, MatMul, Transpose, Reshape) and small
constants. The products do ``W / Kw`` times the multiply-adds of the
gather, as GEMMs, and hold ``Kh·W`` values per query instead of
``Kh·Kw·dim``. Same precision rule and results as the reference (a one-hot
product is exact), and differentiable.
"""
import functools

import torch

from ..dtypes import compute_dtype
from .window import axis_tables

__all__ = ['na2d_qk_onnx', 'na2d_av_onnx']


def neighbour_rows(x, table):
    """``B × h × H × ...`` → ``B × h × H × Kh × ...``: for each row ``i``
    the rows ``table[i]`` (``table``: ``H × Kh``)."""
    rows = x.index_select(2, table.reshape(-1))  # B, h, H*Kh, ...
    return rows.unflatten(2, table.shape)


@functools.lru_cache(maxsize=512)
def column_one_hot(n, kernel, dilation, dtype, device):
    """``n × kernel × n``: ``[j, k, j'] = 1`` where ``j'`` is the ``k``-th
    neighbour of column ``j`` (:func:`.window.axis_tables`), else 0."""
    nbr, _ = axis_tables(n, kernel, dilation, torch.device('cpu'))  # n, K
    one_hot = nbr[..., None] == torch.arange(n)  # n, K, n
    return one_hot.to(dtype=dtype, device=device)


def na2d_qk_onnx(query, key, kernel, dil, rpb=None):
    """``na2d_qk_reference`` (same arguments, already checked: ``kernel``,
    ``dil`` are pairs) by a row gather and two matmuls."""
    heads, height, width, dim = query.shape[1:]  # the batch stays dynamic
    ctype = compute_dtype(query)
    nh, bh = axis_tables(height, kernel[0], dil[0], query.device)  # H, Kh
    _, bw = axis_tables(width, kernel[1], dil[1], query.device)  # W, Kw
    picks = column_one_hot(width, kernel[1], dil[1], ctype, query.device)
    k_rows = neighbour_rows(key.to(ctype).transpose(-1, -2), nh)  # B,h,H,Kh,d,W
    k_rows = k_rows.transpose(3, 4).reshape(-1, heads, height, dim,
                                            kernel[0] * width)
    scores = query.to(ctype) @ k_rows  # B, h, H, W, Kh*W (every row pair)
    scores = scores.unflatten(-1, (kernel[0], width))  # B, h, H, W, Kh, W
    logits = scores @ picks.transpose(1, 2)  # B, h, H, W, Kh, Kw
    if rpb is not None:
        bias = rpb.to(ctype).index_select(1, bh.reshape(-1))  # h,H*Kh,2Kw-1
        bias = bias.index_select(2, bw.reshape(-1)).view(
            heads, height, kernel[0], width, kernel[1])  # h, H, Kh, W, Kw
        logits = logits + bias.transpose(2, 3)  # h, H, W, Kh, Kw
    return logits.flatten(-2).to(query.dtype)  # B, h, H, W, Kh*Kw


def na2d_av_onnx(attn, value, kernel, dil):
    """``na2d_av_reference`` (same arguments, already checked) by a row
    gather and two matmuls."""
    heads, height, width, dim = value.shape[1:]  # the batch stays dynamic
    ctype = compute_dtype(value)
    nh, _ = axis_tables(height, kernel[0], dil[0], value.device)  # H, Kh
    spread = column_one_hot(width, kernel[1], dil[1], ctype, value.device)
    weights = attn.to(ctype).unflatten(-1, kernel)  # B, h, H, W, Kh, Kw
    band = (weights @ spread).flatten(-2)  # B, h, H, W, Kh*W
    v_rows = neighbour_rows(value.to(ctype), nh).reshape(
        -1, heads, height, kernel[0] * width, dim)  # B, h, H, Kh*W, d
    return (band @ v_rows).to(value.dtype)  # B, h, H, W, d
