"""The argument errors of ``na2d_qk`` and ``na2d_av``: the same message from
the reference and from the public op on each kind of backend."""
import pytest
import torch
from oracles import pair

from mmmamba.ops import (na2d_av, na2d_av_reference, na2d_qk,
                         na2d_qk_reference, use_backend)

# (qk, av, forced backend of the public op or None for the reference)
FUNCTIONS = {
    'reference': (na2d_qk_reference, na2d_av_reference, None),
    'public-cpu': (na2d_qk, na2d_av, 'cpu'),
    'public-reference': (na2d_qk, na2d_av, 'reference'),
}


@pytest.fixture(params=list(FUNCTIONS))
def ops(request):
    """``(qk, av)`` of one entry of FUNCTIONS, under its backend."""
    qk, av, backend = FUNCTIONS[request.param]
    if backend is None:
        yield qk, av
    else:
        with use_backend(backend):
            yield qk, av


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
def test_qk_av_reject_bad_window(ops, kwargs, match):
    qk, av = ops
    q, k = _qkv()
    kernel = pair(kwargs['kernel_size'])
    with pytest.raises(ValueError, match=match):
        qk(q, k, **kwargs)
    valid = len(kernel) == 2 and all(type(x) is int and x > 0 for x in kernel)
    attn = torch.zeros(1, 2, 9, 9, kernel[0] * kernel[1] if valid else 9)
    with pytest.raises(ValueError, match=match):
        av(attn, q, **kwargs)


def test_qk_rejects_bad_tensors(ops):
    qk, _ = ops
    q, k = _qkv()
    with pytest.raises(ValueError, match=r'query must be 5-D \(B, heads, H, '
                       r'W, dim\), got shape \(9, 9, 4\)'):
        qk(q[0, 0], k[0, 0], 3)
    with pytest.raises(ValueError, match='query and key must have the same '
                       'shape'):
        qk(q, k[..., :3], 3)
    with pytest.raises(ValueError, match='same dtype, got torch.float32 and '
                       'torch.float64'):
        qk(q, k.double(), 3)
    with pytest.raises(ValueError, match='same device'):
        qk(q, k.to('meta'), 3)
    with pytest.raises(ValueError, match='floating-point'):
        qk(q.long(), k.long(), 3)
    with pytest.raises(ValueError, match=r'rpb must have shape \(heads, '
                       r'2\*Kh-1, 2\*Kw-1\) = \(2, 5, 5\), got \(2, 3, 3\)'):
        qk(q, k, 3, 2, rpb=torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match=r'= \(2, 5, 5\), got \(1, 5, 5\)'):
        qk(q, k, 3, rpb=torch.zeros(1, 5, 5))
    with pytest.raises(ValueError, match='rpb must be on the same device'):
        qk(q, k, 3, rpb=torch.zeros(2, 5, 5, device='meta'))


def test_av_rejects_bad_tensors(ops):
    _, av = ops
    v, _ = _qkv()
    attn = torch.zeros(1, 2, 9, 9, 9)
    with pytest.raises(ValueError, match=r'attn last dim must be Kh\*Kw = '
                       r'5\*5 = 25 .*got 9'):
        av(attn, v, 5)
    with pytest.raises(ValueError, match=r'attn and value must agree on '
                       r'\(B, heads, H, W\)'):
        av(attn[:, :1], v, 3)
    with pytest.raises(ValueError, match='attn and value must have the same '
                       'dtype'):
        av(attn.double(), v, 3)
    with pytest.raises(ValueError, match=r'value must be 5-D'):
        av(attn, v[0], 3)
    with pytest.raises(ValueError, match='attn and value must be on the same '
                       'device'):
        av(attn, v.to('meta'), 3)
