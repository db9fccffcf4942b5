"""The exported formulation of neighborhood attention (``na2d_qk_onnx``,
``na2d_av_onnx``, in window and in halo form) against the brute-force loops
and the reference, and the public ops exporting it."""
import pytest
import torch
from onnx_testing import (assert_relative, assert_same_grads, run_exported,
                          to_halo_form, to_window_form)
from op_testing import na_inputs
from oracles import brute_av, brute_qk, pair, window_1d

from mmmamba.ops import (na2d_av, na2d_av_reference, na2d_qk,
                         na2d_qk_reference)
from mmmamba.ops.neighborhood.checks import check_av_args, check_halo_form
from mmmamba.ops.neighborhood.onnx import (halo_form, na2d_av_onnx,
                                           na2d_qk_onnx)
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


def test_cases_run_both_forms():
    forms = {halo_form(h, w, pair(k), pair(d)) for h, w, k, d in CASES}
    assert forms == {True, False}


@pytest.mark.parametrize('height,width,kernel,dilation', CASES)
def test_match_brute_force(height, width, kernel, dilation):
    q, k, v, rpb = na_inputs(2, 2, height, width, 3, kernel,
                             dtype=torch.float64, seed=height)
    pk, pd = pair(kernel), pair(dilation)
    attn = na2d_qk_onnx(q, k, pk, pd, rpb)
    assert attn.dim() == (6 if halo_form(height, width, pk, pd) else 5)
    torch.testing.assert_close(to_window_form(attn, height, width, pk, pd),
                               brute_qk(q, k, kernel, dilation, rpb))
    weights = attn.softmax(-1)
    if attn.dim() == 6:  # off the window the weights are below e^-40
        size = (height, width, pk, pd)
        off = weights - to_halo_form(to_window_form(weights, *size), *size)
        assert off.abs().max() < 5e-18
    torch.testing.assert_close(
        na2d_av_onnx(weights, v, pk, pd),
        brute_av(to_window_form(weights, height, width, pk, pd), v, kernel,
                 dilation))


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
            # the halo form's tables: the window's places, with the bias
            # index of each neighbour's group offset
            offsets = window_1d(int(slots[t, a]), n, kernel, dilation)[1]
            assert tiles.in_window[t, a].sum() == kernel
            assert tiles.in_window[t, a][tiles.place[t, a]].all()
            assert tiles.halo_bias[t, a][tiles.place[t, a]].tolist() == [
                kernel - 1 + o for o in offsets]
    assert (slots.reshape(-1)[tiles.slot_of] == range(n)).all()


@pytest.mark.parametrize('height,width,kernel,dilation',
                         CASES[:3] + WIDE_CASES)
def test_outputs_and_grads_match_the_reference(height, width, kernel,
                                               dilation):
    q, k, v, rpb = na_inputs(2, 2, height, width, 8, kernel, seed=width)
    pk, pd = pair(kernel), pair(dilation)
    size = (height, width, pk, pd)
    assert_same_grads(
        lambda q, k, rpb: to_window_form(na2d_qk_onnx(q, k, pk, pd, rpb),
                                         *size),
        lambda q, k, rpb: na2d_qk_reference(q, k, pk, pd, rpb), (q, k, rpb))
    attn = na2d_qk_reference(q, k, pk, pd, rpb).softmax(-1)
    halo = halo_form(*size)
    assert_same_grads(
        lambda a, v: na2d_av_onnx(to_halo_form(a, *size) if halo else a, v,
                                  pk, pd),
        lambda a, v: na2d_av_reference(a, v, pk, pd), (attn, v))
    # and both in one: softmax over the halo places
    assert_same_grads(
        lambda q, k, v, rpb: na2d_av_onnx(
            na2d_qk_onnx(q, k, pk, pd, rpb).softmax(-1), v, pk, pd),
        lambda q, k, v, rpb: na2d_av_reference(
            na2d_qk_reference(q, k, pk, pd, rpb).softmax(-1), v, pk, pd),
        (q, k, v, rpb))


@pytest.mark.parametrize('height,width', [(9, 8), (6, 6)])  # window, halo
def test_half_precision_is_computed_in_fp32_and_cast_back(height, width):
    q, k, v, rpb = na_inputs(1, 2, height, width, 4, 3, dtype=torch.bfloat16)
    size = (height, width, (3, 3), (2, 2))
    attn = na2d_qk_onnx(q, k, (3, 3), (2, 2), rpb)
    assert attn.dtype == torch.bfloat16
    assert attn.dim() == (6 if halo_form(*size) else 5)
    torch.testing.assert_close(to_window_form(attn, *size),
                               na2d_qk_reference(q, k, 3, 2, rpb))
    out = na2d_av_onnx(attn.softmax(-1), v, (3, 3), (2, 2))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, na2d_av_reference(
        to_window_form(attn.softmax(-1), *size), v, 3, 2))


def test_a_6d_attn_is_only_the_halo_form_of_the_value_map():
    q, k, v, rpb = na_inputs(1, 2, 15, 10, 4, 5, seed=2)
    attn = na2d_qk_onnx(q, k, (5, 5), (3, 2), rpb).softmax(-1)
    with pytest.raises(ValueError, match='must be 5-D'):  # not exporting
        check_av_args(attn, v, 5, (3, 2))
    assert check_halo_form(attn, v, 5, (3, 2), 'na2d_av') == ((5, 5), (3, 2))
    with pytest.raises(ValueError, match='halo form of the exported'):
        check_halo_form(attn[..., :-1], v, 5, (3, 2), 'na2d_av')
    with pytest.raises(ValueError, match='halo form of the exported'):
        check_halo_form(attn, v, 5, (1, 1), 'na2d_av')  # another layout


def attention(dilation):
    def fn(q, k, v, rpb):
        return na2d_av(na2d_qk(q, k, 5, dilation, rpb).softmax(-1), v, 5,
                       dilation)
    return fn


@pytest.mark.parametrize('opset', [17, 20])
@pytest.mark.parametrize('height,width,dilation',
                         [(23, 17, (3, 2)), (15, 10, (3, 2))])  # window, halo
def test_the_public_ops_export_the_matmul_formulation(opset, height, width,
                                                      dilation):
    q, k, v, rpb = na_inputs(1, 2, height, width, 4, 5, seed=3)
    (out, ), ops = run_exported(attention(dilation), (q, k, v, rpb), opset)
    want = na2d_av_reference(
        na2d_qk_reference(q, k, 5, dilation, rpb).softmax(-1), v, 5,
        dilation)
    assert_relative(out, want)
    assert 'MatMul' in ops and 'Einsum' not in ops  # not the reference's
