"""The depthwise-convolution kernels against the reference: output, dx,
dweight and dbias; the compiled kernels on every A2Mamba-T stage shape
(512² batch 1, 224² batch 8) of each use, odd sizes and channel counts,
kernel sizes 1 to 9, no bias, NCHW and non-contiguous inputs, low
precision, gradcheck in float64; the argument errors of the kernels."""
import pytest
import torch
from op_testing import (COMPILED_BACKENDS, LOW_PRECISION, check_backend,
                        depthwise_inputs, depthwise_stage_cases, device_of,
                        leaves)

from mmmamba.ops import depthwise_conv2d, use_backend
from mmmamba.ops.extension import require_extension

NAMES = ('out', 'dx', 'dweight', 'dbias')
# the backends with depthwise kernels (Triton has none)
BACKENDS = COMPILED_BACKENDS + ('cuda_host', )


def _conv(residual):
    def fn(x, weight, bias):
        return depthwise_conv2d(x, weight, bias, residual)
    return fn


# (B, C, H, W, K, residual)
CASES = [
    (2, 19, 7, 9, 3, True),  # odd map, C not a multiple of 16 (8 fp64)
    (1, 40, 9, 7, 5, False),  # two vectors and a tail
    (1, 33, 12, 11, 7, True),  # K = 7, fixed-K path
    (1, 17, 11, 10, 9, False),  # K = 9, the generic loops
    (1, 16, 4, 3, 5, True),  # map smaller than the window
    (3, 8, 5, 6, 1, False),  # K = 1
]


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('case', CASES, ids=str)
def test_matches_reference_fp32(case, backend):
    *shape, residual = case
    check_backend(backend, _conv(residual),
                  depthwise_inputs(*shape, seed=len(str(case))), NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
@pytest.mark.parametrize('stage', depthwise_stage_cases(), ids=str)
def test_stage_shapes_of_tiny(stage, backend):
    """(batch, size, channels, K, residual) of A2Mamba-T's cpe, FFN and 5×5
    convolutions at 512² (batch 1) and 224² (batch 8)."""
    batch, size, channels, kernel, residual = stage
    inputs = depthwise_inputs(batch, channels, size, size, kernel, seed=size)
    check_backend(backend, _conv(residual), inputs, NAMES)


@pytest.mark.parametrize('dtype', LOW_PRECISION, ids=str)
@pytest.mark.parametrize('backend', BACKENDS)
def test_low_precision(backend, dtype):
    """fp16 / bf16 inputs: the CPU kernels read them in fp32, the CUDA
    kernels as they are (fp32 accumulation); results in the input dtype."""
    inputs = depthwise_inputs(2, 24, 9, 10, 5, dtype=dtype, seed=3)
    out = check_backend(backend, _conv(True), inputs, NAMES)[0]
    assert out.dtype == dtype


@pytest.mark.parametrize('backend', BACKENDS)
def test_without_bias(backend):
    inputs = depthwise_inputs(1, 20, 8, 9, 3, seed=4, bias=False)
    check_backend(backend, _conv(True), inputs, NAMES)


@pytest.mark.parametrize('backend', COMPILED_BACKENDS)
def test_nchw_and_strided_inputs(backend):
    """An NCHW-contiguous x and a strided view are read correctly (one copy
    into the channels-last layout); an NCHW x gets an NCHW result (as from
    nn.Conv2d), the others a channels-last one."""
    x, weight, bias = depthwise_inputs(2, 12, 10, 11, 3, seed=5)
    nchw = x.contiguous()
    strided = torch.randn(2, 24, 10, 11).contiguous(
        memory_format=torch.channels_last)[:, ::2]
    assert nchw.is_contiguous() and not strided.is_contiguous()
    for tensor, layout in ((nchw, torch.contiguous_format),
                           (strided, torch.channels_last)):
        out = check_backend(backend, _conv(True), [tensor, weight, bias],
                            NAMES)[0]
        assert out.is_contiguous(memory_format=layout)


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('residual', [False, True])
def test_gradcheck_fp64(backend, residual):
    inputs = leaves(depthwise_inputs(1, 3, 5, 6, 3, dtype=torch.float64,
                                     seed=6), device=device_of(backend))

    def fn(x, weight, bias):
        with use_backend(backend):
            return depthwise_conv2d(x, weight, bias, residual)

    assert fn(*inputs).dtype == torch.float64
    assert torch.autograd.gradcheck(fn, tuple(inputs), fast_mode=True)


def test_compiled_kernels_check_their_arguments():
    """Direct calls of the CPU kernels get a message, not a crash."""
    ext = require_extension()
    x = torch.randn(1, 5, 6, 4).permute(0, 3, 1, 2)  # channels-last, C = 4
    weight = torch.randn(4, 3, 3)
    with pytest.raises(RuntimeError, match='K odd'):
        ext.depthwise_conv2d_forward(x, torch.randn(4, 2, 2), None, False)
    with pytest.raises(RuntimeError, match='weight must have shape'):
        ext.depthwise_conv2d_forward(x, weight[:3], None, False)
    with pytest.raises(RuntimeError, match='x must be a channels-last'):
        ext.depthwise_conv2d_forward(x.contiguous(), weight, None, False)
    with pytest.raises(RuntimeError, match='grad must have shape'):
        ext.depthwise_conv2d_backward(x[:, :, :2], x, weight, False)
    with pytest.raises(RuntimeError, match='up to 63'):
        ext.depthwise_conv2d_forward(x, torch.randn(4, 65, 65), None, False)
