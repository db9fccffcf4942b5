"""2-D neighborhood attention as tiles and matrix products: the formulation
exported to ONNX.

The reference gathers the ``K*K`` neighbours of every query (one Gather of
``K*K`` times the map, then a batched product of ``1 × dim`` rows), which
onnxruntime runs slowly. Here the map is cut into 2-D tiles, the product of
a row tile and a column tile (:mod:`.tiles`): ``Th × Tw`` queries and the
``Thk × Twk`` keys (the *halo*) their windows cover. Per tile:

- ``na2d_qk`` is one product of the ``Th·Tw × d`` queries by the
  ``d × Thk·Twk`` halo keys; each query's ``Kh`` rows and ``Kw`` columns are
  then picked from the halo by products with one-hot ``Thk × Kh`` and
  ``Twk × Kw`` matrices, each batched over the query slots of its axis (one
  GEMM over the whole map per slot);
- ``na2d_av`` spreads the weights onto the halo by the transposed one-hot
  products, then multiplies them by the ``Thk·Twk × d`` halo values.

Border-shifted windows and dilation live in the constant tables alone
(built outside the trace), so the graph holds standard operators (Gather,
MatMul, Transpose, Reshape) and small integer constants; the one-hot
matrices are built in the graph from them (onnxruntime folds them when it
loads the file). The products do about ``(Thk·Twk) / (Kh·Kw)`` (2 to 3)
times the multiply-adds of the window, in GEMMs of dozens of rows and
columns; the largest intermediate holds ``Thk·Twk`` values per query. Same
precision rule and results as the reference (a one-hot product is exact),
and differentiable.
"""
import functools

import numpy as np
import torch

from ..dtypes import as_dtype, compute_dtype
from ..onnx_shapes import static_shape
from .tiles import _untraced, column_tiles
from .window import axis_tables

__all__ = ['na2d_qk_onnx', 'na2d_av_onnx']


class _Axis:
    """One axis's tiles (:class:`.tiles.ColumnTiles`) as tensors on a
    device: one tensor per table, shared by every call."""

    def __init__(self, n, kernel, dilation, device):
        tiles = column_tiles(n, kernel, dilation)
        self.tiles, self.size, self.halo_size = tiles.shape
        for name, table in tiles._asdict().items():
            setattr(self, name, torch.as_tensor(table, device=device))
        # slots in map order (dilation 1, n a multiple of Tw): no reorder
        self.in_order = np.array_equal(tiles.slots, np.arange(n))
        with _untraced():
            self.bias = axis_tables(n, kernel, dilation,
                                    device)[1].reshape(-1)  # n*K

    def one_hot(self, dtype):
        """``nT × Tw × K × Tk``: 1 where the halo place is the slot's
        neighbour."""
        places = torch.arange(self.halo_size, device=self.place.device)
        return (self.place[..., None] == places).to(dtype)


@functools.lru_cache(maxsize=512)
def _axes(height, width, kernel, dil, device):
    return (_Axis(height, kernel[0], dil[0], device),
            _Axis(width, kernel[1], dil[1], device))


def _tiled(x, rows, cols, table):
    """``B × h × H × W × c`` → ``B × h × nTh × nTw × a × b × c``: the query
    slots (``table='slots'``, ``a, b = Th, Tw``) or the halo (``'halo'``,
    ``a, b = Thk, Twk``) of every tile."""
    heads, _, _, channels = static_shape(x)
    row_index, col_index = getattr(rows, table), getattr(cols, table)
    x = _select(_select(x, 2, row_index, rows.in_order and table == 'slots'),
                3, col_index, cols.in_order and table == 'slots')
    x = x.reshape(-1, heads, rows.tiles, len(row_index) // rows.tiles,
                  cols.tiles, len(col_index) // cols.tiles, channels)
    return x.transpose(3, 4)


def _select(x, dim, index, in_order):
    """``x.index_select(dim, index)``; ``x`` itself when ``index`` is
    ``0, 1, ..., n - 1`` (``in_order``: no Gather in the graph)."""
    return x if in_order else x.index_select(dim, index)


def _from_slots(x, rows, cols):
    """``B × h × nTh × nTw × Th × Tw × c`` (slots) → ``B × h × H × W × c``
    (positions)."""
    heads, _, _, _, _, channels = static_shape(x)
    x = x.transpose(3, 4).reshape(-1, heads, rows.tiles * rows.size,
                                  cols.tiles * cols.size, channels)
    x = _select(x, 2, rows.slot_of, rows.in_order)
    return _select(x, 3, cols.slot_of, cols.in_order)


def _broadcast(one_hot, axis):
    """An axis's ``nT × T × ...`` one-hot matrices, shaped to broadcast over
    ``B × h × nTh × nTw × Th × Tw`` batches."""
    if axis == 'rows':
        return one_hot[:, None, :, None]  # nTh, 1, Th, 1, ., .
    return one_hot[:, None]  # nTw, 1, Tw, ., .


def na2d_qk_onnx(query, key, kernel, dil, rpb=None):
    """``na2d_qk_reference`` (same arguments, already checked: ``kernel``,
    ``dil`` are pairs) by tiles and matmuls."""
    heads, height, width, dim = static_shape(query)  # the batch is dynamic
    ctype = compute_dtype(query)
    rows, cols = _axes(height, width, kernel, dil, query.device)
    tiles = (-1, heads, rows.tiles, cols.tiles)
    q_t = _tiled(as_dtype(query, ctype), rows, cols, 'slots').reshape(
        *tiles, rows.size * cols.size, dim)  # B, h, nTh, nTw, Th*Tw, d
    k_t = _tiled(as_dtype(key, ctype), rows, cols, 'halo').reshape(
        *tiles, rows.halo_size * cols.halo_size, dim)  # ..., Thk*Twk, d
    scores = (q_t @ k_t.transpose(-1, -2)).reshape(
        *tiles, rows.size, cols.size, rows.halo_size, cols.halo_size)
    picked = scores @ _broadcast(cols.one_hot(ctype), 'cols').transpose(-1,
                                                                      -2)
    logits = _broadcast(rows.one_hot(ctype), 'rows') @ picked  # .., Kh, Kw
    logits = _from_slots(logits.reshape(*tiles, rows.size, cols.size,
                                        kernel[0] * kernel[1]),
                         rows, cols)  # B, h, H, W, Kh*Kw
    if rpb is not None:
        bias = as_dtype(rpb, ctype).index_select(1, rows.bias)
        bias = bias.index_select(2, cols.bias).view(
            heads, height, kernel[0], width, kernel[1])  # h, H, Kh, W, Kw
        logits = logits + bias.transpose(2, 3).reshape(heads, height, width,
                                                       -1)
    return as_dtype(logits, query.dtype)  # B, h, H, W, Kh*Kw


def na2d_av_onnx(attn, value, kernel, dil):
    """``na2d_av_reference`` (same arguments, already checked) by tiles and
    matmuls."""
    heads, height, width, dim = static_shape(value)  # the batch is dynamic
    ctype = compute_dtype(value)
    rows, cols = _axes(height, width, kernel, dil, value.device)
    tiles = (-1, heads, rows.tiles, cols.tiles)
    weights = _tiled(as_dtype(attn, ctype), rows, cols, 'slots').reshape(
        *tiles, rows.size, cols.size, *kernel)  # B,h,nTh,nTw,Th,Tw,Kh,Kw
    spread = _broadcast(rows.one_hot(ctype), 'rows').transpose(-1, -2) @ \
        weights  # B, h, nTh, nTw, Th, Tw, Thk, Kw
    spread = (spread @ _broadcast(cols.one_hot(ctype), 'cols')).reshape(
        *tiles, rows.size * cols.size, rows.halo_size * cols.halo_size)
    v_t = _tiled(as_dtype(value, ctype), rows, cols, 'halo').reshape(
        *tiles, rows.halo_size * cols.halo_size, dim)  # ..., Thk*Twk, d
    out = (spread @ v_t).reshape(*tiles, rows.size, cols.size, dim)
    return as_dtype(_from_slots(out, rows, cols), value.dtype)
