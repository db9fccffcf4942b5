"""What the ONNX-formulation tests share: a function exported through the
public op (``torch.onnx.export`` of a one-call module) and run by
onnxruntime, the gradient comparison against the reference, and the
conversions between the window form and the export's halo form of the
attention."""
import collections
import io

import onnx
import onnxruntime as ort
import torch
from op_testing import leaves, weighted_loss

from mmmamba.ops.neighborhood.tiles import column_tiles


class _Call(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)


def run_exported(fn, inputs, opset=17):
    """``(outputs, op_types)``: ``fn(*inputs)`` exported to ONNX (opset
    ``opset``) and run by onnxruntime's CPU provider; the graph's op types,
    counted (a ``Counter``)."""
    buffer = io.BytesIO()
    names = [f'input_{i}' for i in range(len(inputs))]
    torch.onnx.export(_Call(fn), tuple(inputs), buffer, dynamo=False,
                      opset_version=opset, input_names=names)
    model = buffer.getvalue()
    session = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
    feeds = {n: t.numpy() for n, t in zip(names, inputs)}
    outputs = [torch.from_numpy(o) for o in session.run(None, feeds)]
    return outputs, collections.Counter(
        n.op_type for n in onnx.load_from_string(model).graph.node)


def assert_relative(got, want, rtol=1e-5):
    """``max |got - want| <= rtol · max |want|`` (same shape)."""
    assert got.shape == want.shape
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() <= rtol * max(scale, 1e-30)


def assert_same_grads(fn, reference, inputs, rtol=1e-5):
    """``fn`` and ``reference`` on ``inputs``: the same output and the same
    gradients of a weighted loss, within ``rtol`` relative."""
    results = []
    for f in (fn, reference):
        leafs = leaves(inputs)
        out = f(*leafs)
        grads = torch.autograd.grad(weighted_loss(out), leafs)
        results.append((out.detach(), grads))
    (out, grads), (want, want_grads) = results
    assert_relative(out, want, rtol)
    for got, expected in zip(grads, want_grads):
        assert_relative(got, expected, rtol)


def _tables(height, width, kernel, dilation):
    return (column_tiles(height, kernel[0], dilation[0]),
            column_tiles(width, kernel[1], dilation[1]))


def to_window_form(attn, height, width, kernel, dilation):
    """The export's halo-form attention (6-D) → ``B × h × H × W × Kh·Kw``,
    each query's neighbours picked from its tile by the tile tables (tested
    against the window rule on their own); window form (5-D) as it is."""
    if attn.dim() == 5:
        return attn
    rows, cols = _tables(height, width, kernel, dilation)
    (row_tiles, th, thk), (col_tiles, tw, twk) = rows.shape, cols.shape
    x = attn.reshape(*attn.shape[:2], row_tiles, col_tiles, th, tw, thk, twk)
    out = []
    for i in range(height):
        ti, a = divmod(int(rows.slot_of[i]), th)
        line = []
        for j in range(width):
            tj, b = divmod(int(cols.slot_of[j]), tw)
            tile = x[:, :, ti, tj, a, b]  # B, h, Thk, Twk
            line.append(tile[:, :, rows.place[ti, a]][
                :, :, :, cols.place[tj, b]].flatten(2))  # B, h, Kh*Kw
        out.append(torch.stack(line, 2))
    return torch.stack(out, 2)  # B, h, H, W, Kh*Kw


def to_halo_form(attn, height, width, kernel, dilation):
    """Window-form weights ``B × h × H × W × Kh·Kw`` → the export's halo
    form (0 off each window; padded slots repeat their query), by the tile
    tables; differentiable."""
    rows, cols = _tables(height, width, kernel, dilation)
    (row_tiles, th, thk), (col_tiles, tw, twk) = rows.shape, cols.shape
    batch, heads = attn.shape[:2]
    weights = attn.reshape(batch, heads, height, width, *kernel)
    out = attn.new_zeros(batch, heads, row_tiles, col_tiles, th, tw, thk,
                         twk)
    for ti in range(row_tiles):
        for a in range(th):
            i = int(rows.slots[ti * th + a])
            for tj in range(col_tiles):
                for b in range(tw):
                    j = int(cols.slots[tj * tw + b])
                    out[:, :, ti, tj, a, b][
                        :, :, rows.place[ti, a][:, None],
                        cols.place[tj, b][None]] = weights[:, :, i, j]
    return out.reshape(batch, heads, row_tiles, col_tiles, th * tw,
                       thk * twk)
