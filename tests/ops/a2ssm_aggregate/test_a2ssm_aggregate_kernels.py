"""The fused A2SSM aggregation kernels of every backend against the
reference: out, dattn_local, dattn_dilated and dstates, every kernel backend
in each dtype on one shape; the compiled backends on the A2Mamba-T and every
arch's A2SSM stages, padded maps (small-map rule), bf16 maps with fp32
states, states as a view of the scan output, gradcheck in float64; the
argument errors."""
import pytest
import torch
from op_testing import (COMPILED_BACKENDS, KERNEL_BACKENDS, LOW_PRECISION,
                        aggregate_inputs, check_backend, device_of, gen_for,
                        leaves, stage_cases)

from mmmamba.ops import a2ssm_aggregate, use_backend

# (B, G, d, H, W, Hp, Wp, K, dilation)
CASES = [
    (1, 2, 24, 56, 56, 56, 56, 11, (5, 5)),  # A2Mamba-T stage 1 at 224²
    (2, 4, 24, 28, 28, 28, 28, 9, (3, 3)),  # stage 2, batch 2
    (2, 4, 8, 13, 17, 13, 17, 3, (4, 5)),  # lengths not divisible
    (1, 2, 4, 5, 9, 7, 9, 7, (1, 1)),  # small-map rule: H padded to K
    (1, 6, 3, 6, 4, 7, 7, 7, (1, 1)),  # both axes padded
]
NAMES = ('out', 'dattn_local', 'dattn_dilated', 'dstates')


def _aggregate(kernel, dilation):
    def fn(attn_local, attn_dilated, states):
        return a2ssm_aggregate(attn_local, attn_dilated, states, kernel,
                               dilation)
    return fn


@pytest.mark.parametrize('dtype', [torch.float32, *LOW_PRECISION], ids=str)
@pytest.mark.parametrize('backend', KERNEL_BACKENDS)
def test_every_backend_matches_reference(backend, dtype):
    inputs = aggregate_inputs(1, 4, 5, 9, 12, 10, 13, 3, dtype, seed=9)
    check_backend(backend, _aggregate(3, (3, 2)), inputs, NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('case', CASES, ids=str)
def test_matches_reference_fp32(case, backend):
    *shape, kernel, dilation = case
    inputs = aggregate_inputs(*shape, kernel, seed=len(str(case)))
    check_backend(backend, _aggregate(kernel, dilation), inputs, NAMES)


STAGES = [case[:5] for case in stage_cases() if case[5]]


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('stage', STAGES, ids=str)
def test_stage_shapes_of_every_arch(stage, backend):
    """(size, channels, heads, kernel, dilation) of the A2SSM stages of
    every arch at 224² and 512², batch of one."""
    size, channels, heads, kernel, dil = stage
    inputs = aggregate_inputs(1, heads, channels // heads, size, size, size,
                              size, kernel, seed=size)
    check_backend(backend, _aggregate(kernel, dil), inputs, NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_bf16_attention_with_fp32_states(backend):
    """Under autocast the maps arrive in bf16, the states in fp32: the
    compiled kernels read the maps in fp32, as the reference casts them."""
    attn_l, attn_d, states = aggregate_inputs(1, 4, 5, 12, 12, 12, 12, 5,
                                              seed=3)
    inputs = [attn_l.bfloat16(), attn_d.bfloat16(), states]
    out = check_backend(backend, _aggregate(5, (2, 2)), inputs, NAMES)[0]
    assert out.dtype == torch.float32


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_states_as_a_view_of_the_scan_output(backend):
    """The mixer passes a view of the scan's B × C × 1 × L states."""
    h = torch.randn(2, 12, 1, 9 * 8, generator=gen_for(4))
    states = h.view(2, 4, 3, 9, 8)[:, :, 1:]  # non-contiguous, d = 2
    attn_l, attn_d, _ = aggregate_inputs(2, 4, 2, 9, 8, 9, 8, 3, seed=5)
    check_backend(backend, _aggregate(3, (3, 2)), [attn_l, attn_d, states],
                  NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_gradcheck_fp64(backend):
    inputs = leaves(aggregate_inputs(1, 2, 2, 6, 7, 7, 7, 3,
                                     dtype=torch.float64, seed=6),
                    device=device_of(backend))

    def fn(attn_l, attn_d, states):
        with use_backend(backend):
            return a2ssm_aggregate(attn_l, attn_d, states, 3, (2, 2))

    assert torch.autograd.gradcheck(fn, tuple(inputs), fast_mode=True)


@pytest.mark.parametrize('backend', ['reference', 'cpu'])
def test_bad_arguments_raise_clear_errors(backend):
    attn_l, attn_d, states = aggregate_inputs(1, 4, 2, 8, 8, 8, 8, 3)
    with use_backend(backend):
        with pytest.raises(ValueError, match='must cover the states'):
            a2ssm_aggregate(attn_l[:, :, :7], attn_d[:, :, :7], states, 3, 1)
        with pytest.raises(ValueError, match='G must be even'):
            a2ssm_aggregate(attn_l, attn_d, states[:, :3], 3, 1)
        with pytest.raises(ValueError, match='kernel_size \\* dilation'):
            a2ssm_aggregate(attn_l, attn_d, states, 3, 3)
        with pytest.raises(ValueError, match='square window'):
            a2ssm_aggregate(attn_l, attn_d, states, (3, 5), 1)
