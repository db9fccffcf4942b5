"""2-D neighborhood attention as tiles and matrix products: the formulation
exported to ONNX.

The reference gathers the ``K*K`` neighbours of every query (one Gather of
``K*K`` times the map, then a batched product of ``1 × dim`` rows), which
onnxruntime runs slowly. Here the map is cut into 2-D tiles, the product of
a row tile and a column tile (:mod:`.tiles`): ``Th × Tw`` queries and the
``Thk × Twk`` keys (the *halo*) their windows cover. ``na2d_qk`` is one
product of a tile's ``Th·Tw × d`` queries by its ``d × Thk·Twk`` halo keys,
and the attention stays in one of two forms:

- *halo form*, where the halo has at most :data:`HALO_FORM_RATIO` times the
  window's places (every A2Mamba stage shape): the logits are returned as
  ``B × h × nTh × nTw × Th·Tw × Thk·Twk``, one per halo place, the bias
  added from constant tables and the places off a query's window raised to
  ``LOGIT_FLOOR`` below its largest logit (their softmax weights are under
  e^-40 of the largest, nothing in fp32); softmax runs over the halo
  places, and ``na2d_av`` multiplies those weights by the tile's
  ``Thk·Twk × d`` halo values: two GEMMs per tile, nothing else;
- *window form* otherwise (``B × h × H × W × Kh·Kw``, the reference's
  layout): each query's ``Kh`` rows and ``Kw`` columns are picked from the
  halo scores by products with one-hot ``Thk × Kh`` and ``Twk × Kw``
  matrices, each batched over the query slots of its axis; ``na2d_av``
  spreads window-form weights onto the halo by the transposed products
  (whatever made them), then multiplies them by the halo values.

The form depends on the map size, kernel and dilation alone
(:func:`halo_form`), so every consumer of a logits tensor (``na2d_av``, the
fused aggregation, the mixer's padding mask, which ``na2d_qk`` makes too)
agrees on it. Border-shifted windows and dilation live in the constant
tables alone (built outside the trace), so the graph holds standard
operators (Gather, MatMul, Transpose, Reshape, Max) and small constants;
the bias and the one-hot matrices are built in the graph from them and the
bias parameter (onnxruntime folds them when it loads the file). The products
do ``(Thk·Twk) / (Kh·Kw)`` (1 to 4) times the multiply-adds of the window,
in GEMMs of dozens of rows and columns. Same precision rule and results as
the reference (within e^-40 relative in halo form; a one-hot product is
exact), and differentiable.
"""
import functools

import numpy as np
import torch

from ..dtypes import as_dtype, compute_dtype
from ..onnx_shapes import static_shape
from .tiles import _untraced, column_tiles
from .window import axis_tables

__all__ = ['na2d_qk_onnx', 'na2d_av_onnx', 'halo_form', 'tiled_shape']

# Halo-form logits more than this below their query's largest are raised to
# it (off-window places included, -inf until then): their softmax weights,
# below e^-40 (4e-18) of the largest one's, are invisible in an fp32 sum,
# and they and their products with the values stay normal floats.
# onnxruntime's Softmax and MatMul ran 5-60x slower on -inf inputs and on
# subnormal results or operands (e^-87 and below) on the development machine.
LOGIT_FLOOR = 40.0

# Halo form where the halo has at most this many places per window place:
# onnxruntime (1.32, 2 threads) ran it as fast as the picks or faster on
# every A2Mamba-T stage shape (ratios 1 to 4; docs/benchmarks.md § ONNX
# export); larger ratios (small kernels on large tiles) were not measured
HALO_FORM_RATIO = 4.0


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
        # every halo place in every slot's window (halo = window): no floor
        self.window_is_halo = bool(tiles.in_window.all())
        with _untraced():
            self.bias = axis_tables(n, kernel, dilation,
                                    device)[1].reshape(-1)  # n*K
            # the halo form's mask: 0 on the slot's window, -inf off it
            self.off_window = torch.zeros(self.in_window.shape,
                                          device=device).masked_fill(
                ~self.in_window, float('-inf'))  # nT, Tw, Tk

    def one_hot(self, dtype):
        """``nT × Tw × K × Tk``: 1 where the halo place is the slot's
        neighbour."""
        places = torch.arange(self.halo_size, device=self.place.device)
        return (self.place[..., None] == places).to(dtype)


@functools.lru_cache(maxsize=512)
def _axes(height, width, kernel, dil, device):
    return (_Axis(height, kernel[0], dil[0], device),
            _Axis(width, kernel[1], dil[1], device))


def halo_form(height, width, kernel, dil):
    """Whether the exported attention of an ``height × width`` map (kernel,
    dilation pairs) stays in halo form (module docstring)."""
    places = tiled_shape(height, width, kernel, dil)[3]
    return places <= HALO_FORM_RATIO * kernel[0] * kernel[1]


def tiled_shape(height, width, kernel, dil):
    """``(nTh, nTw, Th·Tw, Thk·Twk)``: the trailing shape of halo-form
    attention on an ``height × width`` map."""
    (row_tiles, row_size, row_halo), (col_tiles, col_size, col_halo) = (
        column_tiles(n, k, d).shape
        for n, k, d in ((height, kernel[0], dil[0]), (width, kernel[1],
                                                      dil[1])))
    return row_tiles, col_tiles, row_size * col_size, row_halo * col_halo


def _halo_bias(rpb, rows, cols, dtype):
    """``h × nTh × nTw × Th·Tw × Thk·Twk`` (``1 × ...`` without rpb): each
    halo place's bias seen from each query slot, ``-inf`` off its window.

    With ``rpb``, every step takes the bias parameter as an operand, so the
    trace keeps the steps and onnxruntime folds them when it loads the file
    (a product of constants alone would be folded by the tracer into a
    constant of that size in the file)."""
    row_mask = rows.off_window.to(dtype)[:, :, :, None, None, None]
    col_mask = cols.off_window.to(dtype)  # nTw, Tw, Twk
    if rpb is None:
        bias = (row_mask + col_mask)[None]
    else:
        bias = as_dtype(rpb, dtype).index_select(1, rows.halo_bias.reshape(-1))
        bias = bias.index_select(2, cols.halo_bias.reshape(-1)).view(
            -1, rows.tiles, rows.size, rows.halo_size, cols.tiles,
            cols.size, cols.halo_size) + row_mask + col_mask
    heads = 1 if rpb is None else static_shape(rpb, 0)[0]
    return bias.permute(0, 1, 4, 2, 5, 3, 6).reshape(
        heads, rows.tiles, cols.tiles, rows.size * cols.size,
        rows.halo_size * cols.halo_size)


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
    ``dil`` are pairs) by tiles and matmuls: ``B × h × H × W × Kh·Kw``, or
    in halo form ``B × h × nTh × nTw × Th·Tw × Thk·Twk`` where
    :func:`halo_form` says so."""
    heads, height, width, dim = static_shape(query)  # the batch is dynamic
    ctype = compute_dtype(query)
    rows, cols = _axes(height, width, kernel, dil, query.device)
    tiles = (-1, heads, rows.tiles, cols.tiles)
    q_t = _tiled(as_dtype(query, ctype), rows, cols, 'slots').reshape(
        *tiles, rows.size * cols.size, dim)  # B, h, nTh, nTw, Th*Tw, d
    k_t = _tiled(as_dtype(key, ctype), rows, cols, 'halo').reshape(
        *tiles, rows.halo_size * cols.halo_size, dim)  # ..., Thk*Twk, d
    scores = q_t @ k_t.transpose(-1, -2)  # ..., Th*Tw, Thk*Twk
    if halo_form(height, width, kernel, dil):
        logits = scores + _halo_bias(rpb, rows, cols, ctype)
        if not (rows.window_is_halo and cols.window_is_halo):
            logits = torch.maximum(logits, logits.amax(-1, keepdim=True) -
                                   LOGIT_FLOOR)  # off-window places floored
        return as_dtype(logits, query.dtype)  # B,h,nTh,nTw,Th*Tw,Thk*Twk
    scores = scores.reshape(*tiles, rows.size, cols.size, rows.halo_size,
                            cols.halo_size)
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
    matmuls; ``attn`` in window form (``B × h × H × W × Kh·Kw``) or in the
    halo form :func:`na2d_qk_onnx` returns."""
    heads, height, width, dim = static_shape(value)  # the batch is dynamic
    ctype = compute_dtype(value)
    rows, cols = _axes(height, width, kernel, dil, value.device)
    tiles = (-1, heads, rows.tiles, cols.tiles)
    if attn.dim() == 6:  # halo form: the weights of every halo place
        spread = as_dtype(attn, ctype)  # B, h, nTh, nTw, Th*Tw, Thk*Twk
    else:
        weights = _tiled(as_dtype(attn, ctype), rows, cols, 'slots').reshape(
            *tiles, rows.size, cols.size, *kernel)  # B,h,nTh,nTw,Th,Tw,Kh,Kw
        spread = _broadcast(rows.one_hot(ctype), 'rows').transpose(-1, -2) \
            @ weights  # B, h, nTh, nTw, Th, Tw, Thk, Kw
        spread = (spread @ _broadcast(cols.one_hot(ctype), 'cols')).reshape(
            *tiles, rows.size * cols.size, rows.halo_size * cols.halo_size)
    v_t = _tiled(as_dtype(value, ctype), rows, cols, 'halo').reshape(
        *tiles, rows.halo_size * cols.halo_size, dim)  # ..., Thk*Twk, d
    out = (spread @ v_t).reshape(*tiles, rows.size, cols.size, dim)
    return as_dtype(_from_slots(out, rows, cols), value.dtype)
