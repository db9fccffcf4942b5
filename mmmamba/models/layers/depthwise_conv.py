"""The block's depthwise convolutions on the mmmamba kernel."""
import torch
import torch.nn as nn

from mmmamba.ops import depthwise_conv2d


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(C, C, K, padding=K // 2, groups=C)`` (same parameters,
    so checkpoints load unchanged) run by :func:`mmmamba.ops.depthwise_conv2d`
    on channels-last maps.

    Args:
        channels (int): C.
        kernel_size (int): odd K.
        residual (bool): return ``x + conv(x)`` (one pass, one buffer).
        kernel_without_grad (bool): run the kernel also when autograd does
            not record the call (inference); when False such calls run
            ``nn.Conv2d`` (oneDNN), where its forward is as fast
            (docs/benchmarks.md § Depthwise convolutions).
    """

    def __init__(self, channels, kernel_size, residual=False,
                 kernel_without_grad=True):
        super().__init__(channels, channels, kernel_size,
                         padding=kernel_size // 2, groups=channels)
        self.residual = residual
        self.kernel_without_grad = kernel_without_grad

    def forward(self, x):
        recorded = torch.is_grad_enabled() and (x.requires_grad or
                                                self.weight.requires_grad)
        if self.kernel_without_grad or recorded:
            return depthwise_conv2d(x, self.weight, self.bias, self.residual)
        out = super().forward(x)
        return out.add_(x) if self.residual else out

    def extra_repr(self):
        return (f'{super().extra_repr()}, residual={self.residual}, '
                f'kernel_without_grad={self.kernel_without_grad}')
