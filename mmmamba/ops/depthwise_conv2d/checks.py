"""Argument checks of ``depthwise_conv2d`` (every backend runs them first)."""
import torch

OP = 'depthwise_conv2d'


def check_depthwise_args(x, weight, bias):
    """All argument checks of ``depthwise_conv2d`` → the kernel size K.

    ``x``: ``B × C × H × W`` float tensor (any memory format);
    ``weight``: ``C × 1 × K × K`` (an ``nn.Conv2d(C, C, K, groups=C)``
    weight) with K odd; ``bias``: ``C`` or None.
    """
    for name, tensor in (('x', x), ('weight', weight), ('bias', bias)):
        if tensor is not None and not (torch.is_tensor(tensor) and
                                       tensor.is_floating_point()):
            raise TypeError(f'{OP}: {name} must be a floating-point tensor, '
                            f'got {type(tensor).__name__}'
                            f'{" of " + str(tensor.dtype) if torch.is_tensor(tensor) else ""}.')
    if x.dim() != 4:
        raise ValueError(f'{OP}: x must be (B, C, H, W), got shape '
                         f'{tuple(x.shape)}.')
    channels = x.shape[1]
    if (weight.dim() != 4 or weight.shape[:2] != (channels, 1) or
            weight.shape[2] != weight.shape[3] or weight.shape[2] % 2 == 0):
        raise ValueError(f'{OP}: weight must be (C, 1, K, K) = ({channels}, '
                         f'1, K, K) with K odd (one square window per '
                         f'channel), got {tuple(weight.shape)}.')
    if bias is not None and tuple(bias.shape) != (channels, ):
        raise ValueError(f'{OP}: bias must be ({channels},), got '
                         f'{tuple(bias.shape)}.')
    for name, tensor in (('weight', weight), ('bias', bias)):
        if tensor is not None and tensor.device != x.device:
            raise ValueError(f'{OP}: {name} must be on the device of x, got '
                             f'{tensor.device} and {x.device}.')
    return weight.shape[2]
