"""Per-channel scale with a learnable bias (LayerScale / ResScale)."""
import torch
import torch.nn as nn


class LayerScale(nn.Module):
    """``x * weight + bias`` per channel of a B×C×H×W map.

    The weight is stored as C×1×1×1 (a depthwise 1×1 kernel) to match the
    released checkpoints; the bias starts at zero.
    """

    def __init__(self, channels, init_value=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels, 1, 1, 1),
                                              float(init_value)))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
