"""The fused A2SSM aggregation: C++ CPU kernel against the reference, the
reference against two explicit ``na2d_av`` calls, and its argument errors."""
import pytest
import torch
import torch.nn.functional as F

from mmmamba.ops import (a2ssm_aggregate, a2ssm_aggregate_reference,
                         na2d_av_reference, use_backend)

from stage_shapes import stage_shapes

# (B, G, d, H, W, Hp, Wp, K, dilation)
CASES = [
    (1, 2, 24, 56, 56, 56, 56, 11, (5, 5)),  # A2Mamba-T stage 1 at 224²
    (2, 4, 24, 28, 28, 28, 28, 9, (3, 3)),  # stage 2, batch 2
    (2, 4, 8, 13, 17, 13, 17, 3, (4, 5)),  # lengths not divisible
    (1, 2, 4, 5, 9, 7, 9, 7, (1, 1)),  # small-map rule: H padded to K
    (1, 6, 3, 6, 4, 7, 7, 7, (1, 1)),  # both axes padded
]


def _inputs(B, G, d, H, W, Hp, Wp, K, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    maps = [torch.randn(B, G // 2, Hp, Wp, K * K, generator=gen).softmax(-1)
            for _ in range(2)]
    states = torch.randn(B, G, d, H, W, generator=gen)
    return [t.to(dtype).requires_grad_() for t in maps + [states]]


def _run(backend, inputs, K, dilation):
    with use_backend(backend):
        out = a2ssm_aggregate(*inputs, K, dilation)
    weight = torch.linspace(-1, 1, out.numel()).view(out.shape)
    grads = torch.autograd.grad((out.float() * weight).sum(), inputs)
    return (out, ) + grads


def test_reference_is_two_na2d_av_calls():
    attn_l, attn_d, states = _inputs(2, 4, 3, 9, 10, 9, 11, 3)
    values = F.pad(states.permute(0, 1, 3, 4, 2), (0, 0, 0, 1))  # B,G,9,11,d
    local = na2d_av_reference(attn_l, values[:, :2], 3, 1)
    dilated = na2d_av_reference(attn_d, values[:, 2:], 3, (3, 2))
    want = torch.cat([local, dilated], 1)[:, :, :, :10].permute(0, 1, 4, 2, 3)
    got = a2ssm_aggregate_reference(attn_l, attn_d, states, 3, (3, 2))
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize('case', CASES, ids=str)
def test_cpu_kernel_matches_reference(case):
    *shape, K, dilation = case
    inputs = _inputs(*shape, K, seed=len(str(case)))
    want = _run('reference', inputs, K, dilation)
    got = _run('cpu', inputs, K, dilation)
    for name, g, w in zip(('out', 'dattn_local', 'dattn_dilated', 'dstates'),
                          got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4, msg=name)


STAGES = [case[:5] for case in stage_shapes() if case[5]]


@pytest.mark.parametrize('stage', STAGES, ids=str)
def test_stage_shapes_of_every_arch(stage):
    """(size, channels, heads, kernel, dilation) of the A2SSM stages of
    every arch at 224² and 512², batch of one."""
    size, channels, heads, K, dil = stage
    inputs = _inputs(1, heads, channels // heads, size, size, size, size, K,
                     seed=size)
    want = _run('reference', inputs, K, dil)
    got = _run('cpu', inputs, K, dil)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_bf16_attention_with_fp32_states():
    """Under autocast the maps arrive in bf16, the states in fp32."""
    attn_l, attn_d, states = _inputs(1, 4, 5, 12, 12, 12, 12, 5, seed=3)
    inputs = [attn_l.detach().bfloat16().requires_grad_(),
              attn_d.detach().bfloat16().requires_grad_(), states]
    want = _run('reference', inputs, 5, (2, 2))
    got = _run('cpu', inputs, 5, (2, 2))
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g.float(), w.float(), rtol=2e-2,
                                   atol=2e-2)


def test_states_as_a_view_of_the_scan_output():
    """The mixer passes a view of the scan's B × C × 1 × L states."""
    gen = torch.Generator().manual_seed(4)
    h = torch.randn(2, 12, 1, 9 * 8, generator=gen)
    states = h.view(2, 4, 3, 9, 8)[:, :, 1:]  # non-contiguous, d = 2
    attn_l, attn_d, _ = _inputs(2, 4, 2, 9, 8, 9, 8, 3, seed=5)
    with use_backend('cpu'):
        got = a2ssm_aggregate(attn_l, attn_d, states, 3, (3, 2))
    want = a2ssm_aggregate_reference(attn_l, attn_d, states, 3, (3, 2))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_gradcheck_fp64():
    inputs = _inputs(1, 2, 2, 6, 7, 7, 7, 3, dtype=torch.float64, seed=6)

    def fn(attn_l, attn_d, states):
        with use_backend('cpu'):
            return a2ssm_aggregate(attn_l, attn_d, states, 3, (2, 2))

    assert torch.autograd.gradcheck(fn, tuple(inputs), fast_mode=True)


@pytest.mark.parametrize('backend', ['reference', 'cpu'])
def test_bad_arguments_raise_clear_errors(backend):
    attn_l, attn_d, states = _inputs(1, 4, 2, 8, 8, 8, 8, 3)
    with use_backend(backend):
        with pytest.raises(ValueError, match='must cover the states'):
            a2ssm_aggregate(attn_l[:, :, :7], attn_d[:, :, :7], states, 3, 1)
        with pytest.raises(ValueError, match='G must be even'):
            a2ssm_aggregate(attn_l, attn_d, states[:, :3], 3, 1)
        with pytest.raises(ValueError, match='kernel_size \\* dilation'):
            a2ssm_aggregate(attn_l, attn_d, states, 3, 3)
        with pytest.raises(ValueError, match='square window'):
            a2ssm_aggregate(attn_l, attn_d, states, (3, 5), 1)
