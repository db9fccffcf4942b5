"""Convolutional FFN of the A2Mamba block."""
import torch.nn as nn

from .depthwise_conv import DepthwiseConv2d
from .recompute import recompute


class ConvFFN(nn.Module):
    """conv1×1 (C→rC) → GELU → h + dwconv3×3(h) → conv1×1 (rC→C).

    For backward it keeps only its input and the fc1 output: the pre-norm
    (passed as ``norm``), GELU and the dwconv sum are recomputed, which
    saves three rC-channel maps per block.
    """

    def __init__(self, channels, hidden_channels):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden_channels, 1)
        self.act = nn.GELU()
        self.dwconv = DepthwiseConv2d(hidden_channels, 3, residual=True)
        self.fc2 = nn.Conv2d(hidden_channels, channels, 1)

    def forward(self, x, norm=nn.Identity()):
        """``fc2(...(fc1(norm(x))))``; x: B×C×H×W."""
        x = recompute(lambda t: self.fc1(norm(t)), x)  # B, rC, H, W
        return recompute(self._contract, x)  # B, C, H, W

    def _contract(self, x):
        x = self.act(x)  # B, rC, H, W
        x = self.dwconv(x)  # x + dwconv(x)
        return self.fc2(x)  # B, C, H, W
