"""Stride-4 convolutional stem and the stride-2 downsample between stages."""
import torch.nn as nn
from mmcv.cnn import build_norm_layer


def conv3x3(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)


def build_stem(in_channels, channels, norm_cfg):
    """Four conv3×3+norm layers (strides 2, 1, 2, 1), GELU between them.

    Indices 0,1,3,4,6,7,9,10 hold the weights, as in the released model.
    """
    half = channels // 2
    return nn.Sequential(
        conv3x3(in_channels, half, 2), build_norm_layer(norm_cfg, half)[1],
        nn.GELU(),
        conv3x3(half, half), build_norm_layer(norm_cfg, half)[1], nn.GELU(),
        conv3x3(half, channels, 2), build_norm_layer(norm_cfg, channels)[1],
        nn.GELU(),
        conv3x3(channels, channels), build_norm_layer(norm_cfg, channels)[1])


def build_downsample(in_channels, out_channels, norm_cfg):
    """conv3×3 stride 2 (no bias) + norm."""
    return nn.Sequential(conv3x3(in_channels, out_channels, 2),
                         build_norm_layer(norm_cfg, out_channels)[1])
