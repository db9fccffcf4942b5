"""The exported formulation of neighborhood attention (``na2d_qk_onnx``,
``na2d_av_onnx``) against the brute-force loops and the reference, and the
public ops exporting it."""
import pytest
import torch
from onnx_testing import assert_relative, assert_same_grads, run_exported
from op_testing import na_inputs
from oracles import brute_av, brute_qk, pair

from mmmamba.ops import (na2d_av, na2d_av_reference, na2d_qk,
                         na2d_qk_reference)
from mmmamba.ops.neighborhood.onnx import na2d_av_onnx, na2d_qk_onnx
from mmmamba.ops.neighborhood.tiles import column_tiles
from mmmamba.ops.neighborhood.window import axis_tables

# (H, W, kernel_size, dilation)
CASES = [
    (7, 9, 3, 1),  # border windows on both axes
    (23, 17, 5, (3, 2)),  # groups of 8, 8, 7 rows and 9, 8 cols
    (15, 10, 5, (3, 2)),  # n == K * dilation exactly on both axes
    (5, 5, 5, 1),  # n == K: every query sees the whole map
    (6, 7, 1, (2, 3)),  # K = 1
    (10, 11, (3, 5), (2, 1)),  # rectangular kernel
]


@pytest.mark.parametrize('height,width,kernel,dilation', CASES)
def test_match_brute_force(height, width, kernel, dilation):
    q, k, v, rpb = na_inputs(2, 2, height, width, 3, kernel,
                             dtype=torch.float64, seed=height)
    attn = na2d_qk_onnx(q, k, pair(kernel), pair(dilation), rpb)
    torch.testing.assert_close(attn, brute_qk(q, k, kernel, dilation, rpb))
    weights = attn.softmax(-1)
    torch.testing.assert_close(
        na2d_av_onnx(weights, v, pair(kernel), pair(dilation)),
        brute_av(weights, v, kernel, dilation))


# maps of several tiles per axis: padded last tiles, uneven dilation groups
WIDE_CASES = [(28, 36, 9, (3, 4)), (40, 45, 5, 1), (45, 50, 7, (3, 4)),
              (22, 130, (3, 11), (1, 11))]


@pytest.mark.parametrize('n,kernel,dilation', [(45, 5, 1), (50, 7, 4),
                                               (130, 11, 11), (128, 11, 1),
                                               (7, 7, 1), (23, 5, 3)])
def test_column_tiles_hold_every_window(n, kernel, dilation):
    tiles = column_tiles(n, kernel, dilation)
    count, size, halo_size = tiles.shape
    neighbour = axis_tables(n, kernel, dilation, torch.device('cpu'))[0]
    slots = tiles.slots.reshape(count, size)
    halo = tiles.halo.reshape(count, halo_size)
    for t in range(count):  # one dilation group per tile, windows in halo
        assert len({int(p) % dilation for p in slots[t]}) == 1
        assert halo_size <= size + kernel - 1
        for a in range(size):
            got = halo[t][tiles.place[t, a]]
            assert got.tolist() == neighbour[slots[t, a]].tolist()
    assert (slots.reshape(-1)[tiles.slot_of] == range(n)).all()


@pytest.mark.parametrize('height,width,kernel,dilation',
                         CASES[:3] + WIDE_CASES)
def test_outputs_and_grads_match_the_reference(height, width, kernel,
                                               dilation):
    q, k, v, rpb = na_inputs(2, 2, height, width, 8, kernel, seed=width)
    pk, pd = pair(kernel), pair(dilation)
    assert_same_grads(lambda q, k, rpb: na2d_qk_onnx(q, k, pk, pd, rpb),
                      lambda q, k, rpb: na2d_qk_reference(q, k, pk, pd, rpb),
                      (q, k, rpb))
    attn = na2d_qk_reference(q, k, pk, pd, rpb).softmax(-1)
    assert_same_grads(lambda a, v: na2d_av_onnx(a, v, pk, pd),
                      lambda a, v: na2d_av_reference(a, v, pk, pd),
                      (attn, v))


def test_half_precision_is_computed_in_fp32_and_cast_back():
    q, k, v, rpb = na_inputs(1, 2, 9, 8, 4, 3, dtype=torch.bfloat16)
    attn = na2d_qk_onnx(q, k, (3, 3), (2, 2), rpb)
    assert attn.dtype == torch.bfloat16
    torch.testing.assert_close(attn, na2d_qk_reference(q, k, 3, 2, rpb))
    out = na2d_av_onnx(attn.softmax(-1), v, (3, 3), (2, 2))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(
        out, na2d_av_reference(attn.softmax(-1), v, 3, 2))


def attention(q, k, v, rpb):
    return na2d_av(na2d_qk(q, k, 5, (3, 2), rpb).softmax(-1), v, 5, (3, 2))


@pytest.mark.parametrize('opset', [17, 20])
def test_the_public_ops_export_the_matmul_formulation(opset):
    q, k, v, rpb = na_inputs(1, 2, 23, 17, 4, 5, seed=3)
    (out, ), ops = run_exported(attention, (q, k, v, rpb), opset)
    want = na2d_av_reference(
        na2d_qk_reference(q, k, 5, (3, 2), rpb).softmax(-1), v, 5, (3, 2))
    assert_relative(out, want)
    assert 'MatMul' in ops and 'Einsum' not in ops  # not the reference's
