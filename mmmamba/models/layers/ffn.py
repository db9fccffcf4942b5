"""Convolutional FFN of the A2Mamba block."""
import torch.nn as nn

from .depthwise_conv import DepthwiseConv2d


class ConvFFN(nn.Module):
    """conv1×1 (C→rC) → GELU → h + dwconv3×3(h) → conv1×1 (rC→C)."""

    def __init__(self, channels, hidden_channels):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden_channels, 1)
        self.act = nn.GELU()
        self.dwconv = DepthwiseConv2d(hidden_channels, 3, residual=True)
        self.fc2 = nn.Conv2d(hidden_channels, channels, 1)

    def forward(self, x):
        x = self.act(self.fc1(x))  # B, rC, H, W
        x = self.dwconv(x)  # x + dwconv(x)
        return self.fc2(x)  # B, C, H, W
