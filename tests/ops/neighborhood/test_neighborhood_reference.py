"""The PyTorch neighborhood-attention reference (``na2d_qk_reference``,
``na2d_av_reference``) against the brute-force loops of oracles.py and
hand-written NATTEN examples."""
import pytest
import torch
from op_testing import randn
from oracles import brute_av, brute_qk, pair

import mmmamba.ops.neighborhood.reference as nref
from mmmamba.ops import na2d_av_reference, na2d_qk_reference

# (H, W, kernel_size, dilation)
CASES = [
    (7, 9, 3, 1),  # border windows on both axes
    (9, 8, 3, 2),  # dilation, 8 divisible by 2, 9 not
    (23, 17, 5, (3, 2)),  # groups of 8, 8, 7 rows and 9, 8 cols
    (15, 10, 5, (3, 2)),  # n == K * dilation exactly on both axes
    (5, 5, 5, 1),  # n == K: every query sees the whole map
    (6, 7, 1, 1),  # K = 1: only itself
    (6, 7, 1, (2, 3)),
    (10, 11, (3, 5), (2, 1)),  # rectangular kernel
    (7, 9, (5, 3), (1, 3)),
]


def _inputs(shape, dtype=torch.float64, seed=0):
    return randn(*shape, seed=seed, dtype=dtype)


def _check_against_brute_force(q, k, v, rpb, kernel, dilation):
    attn = na2d_qk_reference(q, k, kernel, dilation, rpb=rpb)
    assert attn.shape == q.shape[:4] + (pair(kernel)[0] * pair(kernel)[1], )
    torch.testing.assert_close(attn, brute_qk(q, k, kernel, dilation, rpb))
    weights = attn.softmax(-1)
    torch.testing.assert_close(na2d_av_reference(weights, v, kernel, dilation),
                               brute_av(weights, v, kernel, dilation))


@pytest.mark.parametrize('with_rpb', [False, True])
@pytest.mark.parametrize('height,width,kernel,dilation', CASES)
def test_qk_av_match_brute_force(height, width, kernel, dilation, with_rpb):
    kh, kw = pair(kernel)
    q, k, v = (_inputs((2, 2, height, width, 3), seed=s) for s in (1, 2, 3))
    rpb = _inputs((2, 2 * kh - 1, 2 * kw - 1), seed=4) if with_rpb else None
    _check_against_brute_force(q, k, v, rpb, kernel, dilation)


@pytest.mark.parametrize('height,width,kernel,dilation',
                         [(23, 17, 5, (3, 2)), (7, 9, 3, 1)])
def test_row_blocks_match_brute_force(monkeypatch, height, width, kernel,
                                      dilation):
    """A tiny chunk budget (one query row per block): the blocks' tables
    and their concatenation still give the brute-force result."""
    kh, kw = pair(kernel)
    q, k, v = (_inputs((1, 2, height, width, 4), seed=s) for s in (5, 6, 7))
    rpb = _inputs((2, 2 * kh - 1, 2 * kw - 1), seed=8)
    assert len(nref._row_blocks(2, height, width, kh * kw, 4)) == 1
    monkeypatch.setattr(nref, '_CHUNK_ELEMENTS', 1)
    assert len(nref._row_blocks(2, height, width, kh * kw, 4)) == height
    _check_against_brute_force(q, k, v, rpb, kernel, dilation)


def _positions_1d(width):
    """query of ones and key = position, so the logits list the neighbours."""
    query = torch.ones(1, 1, 1, width, 1, dtype=torch.float64)
    key = torch.arange(width, dtype=torch.float64).view(1, 1, 1, width, 1)
    return query, key


def test_known_natten_1d_example():
    # n = 7, K = 3, dilation 2: groups [0, 2, 4, 6] and [1, 3, 5]
    query, key = _positions_1d(7)
    nbrs = na2d_qk_reference(query, key, (1, 3), (1, 2))[0, 0, 0]
    assert nbrs.long().tolist() == [[0, 2, 4], [1, 3, 5], [0, 2, 4],
                                    [1, 3, 5], [2, 4, 6], [1, 3, 5],
                                    [2, 4, 6]]
    # rpb index = K - 1 + group offset: rpb[0, 0, c] = c reads it back
    rpb = torch.arange(5, dtype=torch.float64).view(1, 1, 5)
    bias = na2d_qk_reference(torch.zeros_like(query), key, (1, 3), (1, 2),
                             rpb=rpb)
    assert bias[0, 0, 0].long().tolist() == [[2, 3, 4], [2, 3, 4], [1, 2, 3],
                                             [1, 2, 3], [1, 2, 3], [0, 1, 2],
                                             [0, 1, 2]]


def test_known_natten_1d_example_av():
    # one-hot attention on neighbour slot s picks the s-th neighbour's value
    _, value = _positions_1d(7)
    picks = ([0, 1, 0, 1, 2, 1, 2],  # first neighbour of each query
             [2, 3, 2, 3, 4, 3, 4],  # second
             [4, 5, 4, 5, 6, 5, 6])  # third
    for slot, expected in enumerate(picks):
        attn = torch.zeros(1, 1, 1, 7, 3, dtype=torch.float64)
        attn[..., slot] = 1
        out = na2d_av_reference(attn, value, (1, 3), (1, 2))
        assert out[0, 0, 0, :, 0].long().tolist() == expected


def test_border_windows_shift_not_pad():
    # n = 6, K = 5: queries 0..2 see [0..4], queries 3..5 see [1..5]
    query, key = _positions_1d(6)
    nbrs = na2d_qk_reference(query, key, (1, 5))[0, 0, 0].long().tolist()
    assert nbrs == [[0, 1, 2, 3, 4]] * 3 + [[1, 2, 3, 4, 5]] * 3


def test_whole_map_when_n_equals_kernel():
    # H = W = K: every query sees all positions, row-major (ki, kj)
    query = torch.ones(1, 1, 5, 5, 1, dtype=torch.float64)
    key = torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5, 1)
    attn = na2d_qk_reference(query, key, 5)
    assert (attn == torch.arange(25, dtype=torch.float64)).all()


def test_kernel_one_is_identity():
    v = _inputs((2, 3, 4, 5, 6))
    attn = torch.ones(2, 3, 4, 5, 1, dtype=torch.float64)
    torch.testing.assert_close(na2d_av_reference(attn, v, 1, (2, 3)), v)
    torch.testing.assert_close(na2d_qk_reference(v, v, 1)[..., 0],
                               (v * v).sum(-1))


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 2e-3),
                                       (torch.bfloat16, 1.6e-2),
                                       (torch.float32, 1e-5)])
def test_low_precision_computes_in_fp32(dtype, tol):
    q, k, v = (_inputs((1, 2, 9, 8, 8), dtype, seed=s) for s in (1, 2, 3))
    rpb = _inputs((2, 5, 5), torch.float32, seed=4)  # fp32 parameter
    attn = na2d_qk_reference(q, k, 3, 2, rpb=rpb)
    assert attn.dtype == dtype
    expected = brute_qk(q, k, 3, 2, rpb)  # same rounded inputs, in fp64
    torch.testing.assert_close(attn.double(), expected, rtol=tol, atol=tol)
    out = na2d_av_reference(attn, v, 3, 2)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), brute_av(attn, v, 3, 2),
                               rtol=tol, atol=tol * 4)


def test_gradcheck_qk():
    q = _inputs((1, 2, 7, 6, 2), seed=1).requires_grad_()
    k = _inputs((1, 2, 7, 6, 2), seed=2).requires_grad_()
    rpb = _inputs((2, 5, 5), seed=3).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda q, k, rpb: na2d_qk_reference(q, k, 3, 2, rpb=rpb),
        (q, k, rpb))


def test_gradcheck_av():
    attn = _inputs((1, 2, 7, 6, 9), seed=1).requires_grad_()
    v = _inputs((1, 2, 7, 6, 2), seed=2).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, v: na2d_av_reference(a, v, 3, 2), (attn, v))
