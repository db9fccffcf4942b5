"""The block's depthwise-convolution module: nn.Conv2d's parameters (a
checkpoint of nn.Conv2d loads unchanged), and its outputs and gradients
equal to nn.Conv2d's (+ x) with and without autograd, on the kernel and
on the oneDNN path."""
import pytest
import torch
import torch.nn as nn

from mmmamba.models.layers.depthwise_conv import DepthwiseConv2d


def _pair(channels, kernel, residual, kernel_without_grad):
    torch.manual_seed(kernel)
    conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2,
                     groups=channels)
    module = DepthwiseConv2d(channels, kernel, residual, kernel_without_grad)
    module.load_state_dict(conv.state_dict())  # the same names and shapes
    return conv, module


@pytest.mark.parametrize('kernel_without_grad', [True, False])
@pytest.mark.parametrize('kernel,residual', [(3, True), (5, False)])
def test_equals_nn_conv2d(kernel, residual, kernel_without_grad):
    conv, module = _pair(24, kernel, residual, kernel_without_grad)
    x = torch.randn(2, 24, 9, 11).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        want = conv(x) + (x if residual else 0)
        torch.testing.assert_close(module(x), want, rtol=1e-5, atol=1e-5)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    grad = torch.randn_like(x)
    (conv(xs[0]) + (xs[0] if residual else 0)).backward(grad)
    module(xs[1]).backward(grad)
    torch.testing.assert_close(xs[1].grad, xs[0].grad, rtol=1e-5, atol=1e-5)
    for p, q in zip(module.parameters(), conv.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4)


def test_parameters_are_nn_conv2d_parameters():
    conv, module = _pair(8, 5, False, True)
    assert isinstance(module, nn.Conv2d)
    assert {k: v.shape for k, v in module.state_dict().items()} == \
        {k: v.shape for k, v in conv.state_dict().items()}
    assert module.groups == 8 and module.padding == (2, 2)
    assert 'residual=False' in repr(module)
