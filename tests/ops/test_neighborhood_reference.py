"""The PyTorch neighborhood-attention reference against brute-force loops.

The oracle below is written from the NATTEN <= 0.17 definition (list the
dilation group, take K consecutive members starting at
clamp(j - K//2, 0, m - K)) with explicit Python loops in float64; it shares no
code with ``mmmamba.ops.neighborhood``.
"""
import pytest
import torch

import mmmamba.ops.neighborhood.reference as nref
from mmmamba.ops import (na2d_av, na2d_av_reference, na2d_qk,
                         na2d_qk_reference)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def window_1d(i, n, kernel, dilation):
    """(absolute neighbours, group offsets) of position i, by definition."""
    group = list(range(i % dilation, n, dilation))  # i's dilation group
    j = group.index(i)
    start = min(max(j - kernel // 2, 0), len(group) - kernel)
    members = range(start, start + kernel)
    return [group[g] for g in members], [g - j for g in members]


def brute_qk(q, k, kernel_size, dilation, rpb=None):
    (kh, kw), (dh, dw) = _pair(kernel_size), _pair(dilation)
    batch, heads, height, width, _ = q.shape
    q, k = q.double(), k.double()
    out = torch.zeros(batch, heads, height, width, kh * kw,
                      dtype=torch.float64)
    for i in range(height):
        rows, row_off = window_1d(i, height, kh, dh)
        for j in range(width):
            cols, col_off = window_1d(j, width, kw, dw)
            for ki in range(kh):
                for kj in range(kw):
                    key = k[:, :, rows[ki], cols[kj]]  # B, heads, dim
                    logit = (q[:, :, i, j] * key).sum(-1)
                    if rpb is not None:
                        logit = logit + rpb[:, kh - 1 + row_off[ki],
                                            kw - 1 + col_off[kj]].double()
                    out[:, :, i, j, ki * kw + kj] = logit
    return out


def brute_av(attn, v, kernel_size, dilation):
    (kh, kw), (dh, dw) = _pair(kernel_size), _pair(dilation)
    height, width = v.shape[2:4]
    attn, v = attn.double(), v.double()
    out = torch.zeros(v.shape, dtype=torch.float64)
    for i in range(height):
        rows, _ = window_1d(i, height, kh, dh)
        for j in range(width):
            cols, _ = window_1d(j, width, kw, dw)
            for ki in range(kh):
                for kj in range(kw):
                    out[:, :, i, j] += (attn[:, :, i, j, ki * kw + kj, None] *
                                        v[:, :, rows[ki], cols[kj]])
    return out


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
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize('with_rpb', [False, True])
@pytest.mark.parametrize('height,width,kernel,dilation', CASES)
def test_qk_av_match_brute_force(height, width, kernel, dilation, with_rpb):
    kh, kw = _pair(kernel)
    q = _inputs((2, 2, height, width, 3), seed=1)
    k = _inputs((2, 2, height, width, 3), seed=2)
    v = _inputs((2, 2, height, width, 3), seed=3)
    rpb = _inputs((2, 2 * kh - 1, 2 * kw - 1), seed=4) if with_rpb else None
    attn = na2d_qk(q, k, kernel, dilation, rpb=rpb)
    assert attn.shape == (2, 2, height, width, kh * kw)
    torch.testing.assert_close(attn, brute_qk(q, k, kernel, dilation, rpb))
    out = na2d_av(attn.softmax(-1), v, kernel, dilation)
    torch.testing.assert_close(
        out, brute_av(attn.softmax(-1), v, kernel, dilation))


@pytest.mark.parametrize('height,width,kernel,dilation',
                         [(23, 17, 5, (3, 2)), (7, 9, 3, 1)])
def test_row_blocks_match_single_block(monkeypatch, height, width, kernel,
                                       dilation):
    """Tiny chunk budget: one query row per block, same result."""
    kh, kw = _pair(kernel)
    q, k, v = (_inputs((1, 2, height, width, 4), seed=s) for s in (5, 6, 7))
    rpb = _inputs((2, 2 * kh - 1, 2 * kw - 1), seed=8)
    attn = na2d_qk(q, k, kernel, dilation, rpb=rpb)
    out = na2d_av(attn, v, kernel, dilation)
    monkeypatch.setattr(nref, '_CHUNK_ELEMENTS', 1)
    assert len(nref._row_blocks(2, height, width, kh * kw, 4)) == height
    torch.testing.assert_close(na2d_qk(q, k, kernel, dilation, rpb=rpb), attn)
    torch.testing.assert_close(na2d_av(attn, v, kernel, dilation), out)


def test_public_names_are_the_reference():
    q, k = _inputs((1, 1, 6, 6, 2), seed=1), _inputs((1, 1, 6, 6, 2), seed=2)
    a = na2d_qk(q, k, 3, 2)
    torch.testing.assert_close(a, na2d_qk_reference(q, k, 3, 2))
    torch.testing.assert_close(na2d_av(a, q, 3, 2),
                               na2d_av_reference(a, q, 3, 2))


def _positions_1d(width):
    """query of ones and key = position, so the logits list the neighbours."""
    query = torch.ones(1, 1, 1, width, 1, dtype=torch.float64)
    key = torch.arange(width, dtype=torch.float64).view(1, 1, 1, width, 1)
    return query, key


def test_known_natten_1d_example():
    # n = 7, K = 3, dilation 2: groups [0, 2, 4, 6] and [1, 3, 5]
    query, key = _positions_1d(7)
    nbrs = na2d_qk(query, key, (1, 3), (1, 2))[0, 0, 0].long().tolist()
    assert nbrs == [[0, 2, 4], [1, 3, 5], [0, 2, 4], [1, 3, 5], [2, 4, 6],
                    [1, 3, 5], [2, 4, 6]]
    # rpb index = K - 1 + group offset: rpb[0, 0, c] = c reads it back
    rpb = torch.arange(5, dtype=torch.float64).view(1, 1, 5)
    bias = na2d_qk(torch.zeros_like(query), key, (1, 3), (1, 2), rpb=rpb)
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
        out = na2d_av(attn, value, (1, 3), (1, 2))
        assert out[0, 0, 0, :, 0].long().tolist() == expected


def test_border_windows_shift_not_pad():
    # n = 6, K = 5: queries 0..2 see [0..4], queries 3..5 see [1..5]
    query, key = _positions_1d(6)
    nbrs = na2d_qk(query, key, (1, 5))[0, 0, 0].long().tolist()
    assert nbrs == [[0, 1, 2, 3, 4]] * 3 + [[1, 2, 3, 4, 5]] * 3


def test_whole_map_when_n_equals_kernel():
    # H = W = K: every query sees all positions, row-major (ki, kj)
    query = torch.ones(1, 1, 5, 5, 1, dtype=torch.float64)
    key = torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5, 1)
    attn = na2d_qk(query, key, 5)
    assert (attn == torch.arange(25, dtype=torch.float64)).all()


def test_kernel_one_is_identity():
    v = _inputs((2, 3, 4, 5, 6))
    attn = torch.ones(2, 3, 4, 5, 1, dtype=torch.float64)
    torch.testing.assert_close(na2d_av(attn, v, 1, (2, 3)), v)
    torch.testing.assert_close(na2d_qk(v, v, 1)[..., 0], (v * v).sum(-1))


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 2e-3),
                                       (torch.bfloat16, 1.6e-2),
                                       (torch.float32, 1e-5)])
def test_low_precision_computes_in_fp32(dtype, tol):
    q, k, v = (_inputs((1, 2, 9, 8, 8), dtype, seed=s) for s in (1, 2, 3))
    rpb = _inputs((2, 5, 5), torch.float32, seed=4)  # fp32 parameter
    attn = na2d_qk(q, k, 3, 2, rpb=rpb)
    assert attn.dtype == dtype
    expected = brute_qk(q, k, 3, 2, rpb)  # same rounded inputs, in fp64
    torch.testing.assert_close(attn.double(), expected, rtol=tol, atol=tol)
    out = na2d_av(attn, v, 3, 2)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), brute_av(attn, v, 3, 2),
                               rtol=tol, atol=tol * 4)


def test_gradcheck_qk():
    q = _inputs((1, 2, 7, 6, 2), seed=1).requires_grad_()
    k = _inputs((1, 2, 7, 6, 2), seed=2).requires_grad_()
    rpb = _inputs((2, 5, 5), seed=3).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda q, k, rpb: na2d_qk(q, k, 3, 2, rpb=rpb), (q, k, rpb))


def test_gradcheck_av():
    attn = _inputs((1, 2, 7, 6, 9), seed=1).requires_grad_()
    v = _inputs((1, 2, 7, 6, 2), seed=2).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, v: na2d_av(a, v, 3, 2), (attn, v))


# ---------------------------------------------------------------- validation
def _qkv(shape=(1, 2, 9, 9, 4), dtype=torch.float32):
    return torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)


@pytest.mark.parametrize('kwargs,match', [
    (dict(kernel_size=4), 'kernel_size must be odd'),
    (dict(kernel_size=(3, 2)), 'kernel_size must be odd'),
    (dict(kernel_size=0), r'kernel_size must be >= 1'),
    (dict(kernel_size=-3), r'kernel_size must be >= 1'),
    (dict(kernel_size=(3, 3, 3)), 'an int or an \\(h, w\\) pair'),
    (dict(kernel_size=3.0), 'an int or an \\(h, w\\) pair'),
    (dict(kernel_size=3, dilation=0), r'dilation must be >= 1'),
    (dict(kernel_size=3, dilation=(1, -1)), r'dilation must be >= 1'),
    (dict(kernel_size=5, dilation=2),
     r'height 9 is smaller than the window: kernel_size 5 with dilation 2 '
     r'needs height >= kernel_size \* dilation = 10.*Pad the input'),
    (dict(kernel_size=(3, 11)), r'width 9 is smaller than the window'),
])
def test_qk_av_reject_bad_window(kwargs, match):
    q, k = _qkv()
    kernel = _pair(kwargs['kernel_size'])
    with pytest.raises(ValueError, match=match):
        na2d_qk(q, k, **kwargs)
    valid = len(kernel) == 2 and all(type(x) is int and x > 0 for x in kernel)
    attn = torch.zeros(1, 2, 9, 9, kernel[0] * kernel[1] if valid else 9)
    with pytest.raises(ValueError, match=match):
        na2d_av(attn, q, **kwargs)


def test_qk_rejects_bad_tensors():
    q, k = _qkv()
    with pytest.raises(ValueError, match=r'query must be 5-D \(B, heads, H, '
                       r'W, dim\), got shape \(9, 9, 4\)'):
        na2d_qk(q[0, 0], k[0, 0], 3)
    with pytest.raises(ValueError, match='query and key must have the same '
                       'shape'):
        na2d_qk(q, k[..., :3], 3)
    with pytest.raises(ValueError, match='same dtype, got torch.float32 and '
                       'torch.float64'):
        na2d_qk(q, k.double(), 3)
    with pytest.raises(ValueError, match='same device'):
        na2d_qk(q, k.to('meta'), 3)
    with pytest.raises(ValueError, match='floating-point'):
        na2d_qk(q.long(), k.long(), 3)
    with pytest.raises(ValueError, match=r'rpb must have shape \(heads, '
                       r'2\*Kh-1, 2\*Kw-1\) = \(2, 5, 5\), got \(2, 3, 3\)'):
        na2d_qk(q, k, 3, 2, rpb=torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match=r'= \(2, 5, 5\), got \(1, 5, 5\)'):
        na2d_qk(q, k, 3, rpb=torch.zeros(1, 5, 5))
    with pytest.raises(ValueError, match='rpb must be on the same device'):
        na2d_qk(q, k, 3, rpb=torch.zeros(2, 5, 5, device='meta'))


def test_av_rejects_bad_tensors():
    v, _ = _qkv()
    attn = torch.zeros(1, 2, 9, 9, 9)
    with pytest.raises(ValueError, match=r'attn last dim must be Kh\*Kw = '
                       r'5\*5 = 25 .*got 9'):
        na2d_av(attn, v, 5)
    with pytest.raises(ValueError, match=r'attn and value must agree on '
                       r'\(B, heads, H, W\)'):
        na2d_av(attn[:, :1], v, 3)
    with pytest.raises(ValueError, match='attn and value must have the same '
                       'dtype'):
        na2d_av(attn.double(), v, 3)
    with pytest.raises(ValueError, match=r'value must be 5-D'):
        na2d_av(attn, v[0], 3)
    with pytest.raises(ValueError, match='attn and value must be on the same '
                       'device'):
        na2d_av(attn, v.to('meta'), 3)
