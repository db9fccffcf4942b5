"""The backbone's boundary between its channels-last inside and the plain
NCHW tensors it returns."""
import torch

__all__ = ['contiguous_output']


class _ChannelsLastGrad(torch.autograd.Function):
    """A plain contiguous copy whose gradient goes back channels-last."""

    @staticmethod
    def forward(ctx, x):
        return x.contiguous()

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous(memory_format=torch.channels_last)


def contiguous_output(x):
    """A channels-last stage map as the contiguous NCHW tensor returned.

    The gradient a head sends back is then made channels-last once here;
    otherwise it would travel NCHW down the residual stream and every
    convolution's backward in the stage would convert it again.
    """
    if x.requires_grad and not (torch.jit.is_tracing()
                                or torch.onnx.is_in_onnx_export()):
        return _ChannelsLastGrad.apply(x)
    return x.contiguous()
