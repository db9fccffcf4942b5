"""A2Mamba block and stage (docs/design.md § Architecture)."""
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath

from .depthwise_conv import DepthwiseConv2d
from .ffn import ConvFFN
from .layer_scale import LayerScale
from .mixer import MASSMixer
from .norm import LayerNorm2d
from .rope import RoPE2d


class A2MambaBlock(nn.Module):
    """cpe → norm → mixer → cpe → norm → FFN, each with a residual.

    Args:
        channels (int): C.
        num_heads (int): G.
        kernel_size (int): K.
        mlp_ratio (float): FFN hidden width / C.
        drop_path (float): stochastic depth rate.
        global_attn (bool): stage-4 mixer.
        layer_scale (float | None): init of a LayerScale on both branches.
        res_scale (float | None): init of a ResScale (same module applied to
            the shortcut instead of the branch). At most one of the two.
        norm_cfg (dict): norm of the mixer's gate.
    """

    def __init__(self, channels, num_heads, kernel_size, mlp_ratio,
                 drop_path=0., global_attn=False, layer_scale=None,
                 res_scale=None, norm_cfg=dict(type='BN')):
        super().__init__()
        if layer_scale is not None and res_scale is not None:
            raise ValueError('A block takes layer_scale or res_scale, not both')
        self.res_scale = res_scale is not None
        self.cpe1 = DepthwiseConv2d(channels, 3, residual=True)
        self.norm1 = LayerNorm2d(channels)
        self.mixer = MASSMixer(channels, num_heads, kernel_size, global_attn,
                               norm_cfg=norm_cfg)
        self.cpe2 = DepthwiseConv2d(channels, 3, residual=True)
        self.norm2 = LayerNorm2d(channels)
        self.ffn = ConvFFN(channels, int(channels * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        scale = layer_scale if layer_scale is not None else res_scale
        if scale is None:
            self.ls1 = self.ls2 = nn.Identity()
        else:
            self.ls1 = LayerScale(channels, scale)
            self.ls2 = LayerScale(channels, scale)

    # The sums below add in place into a tensor the block has just made
    # (a conv, scale or drop-path output no backward needs): the same sums
    # as x + f(x), without a fresh B×C×H×W buffer for each.
    def forward(self, x, sin, cos):
        x = self.cpe1(x)  # x + cpe(x)
        x = self._residual(x, self.ls1, self.mixer(x, sin, cos, self.norm1))
        x = self.cpe2(x)
        return self._residual(x, self.ls2, self.ffn(x, self.norm2))

    def _residual(self, x, scale, branch):
        if self.res_scale:
            return scale(x).add_(self.drop_path(branch))
        return self.drop_path(scale(branch)).add_(x)


class A2MambaStage(nn.Module):
    """A stack of blocks sharing one RoPE table per forward."""

    def __init__(self, channels, num_heads, depth, drop_paths, with_cp=False,
                 **block_kwargs):
        super().__init__()
        self.with_cp = with_cp
        self.rope = RoPE2d(channels // num_heads)
        self.blocks = nn.ModuleList([
            A2MambaBlock(channels, num_heads, drop_path=drop_paths[i],
                         **block_kwargs) for i in range(depth)
        ])

    def forward(self, x):
        sin, cos = self.rope(*x.shape[2:])
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, sin, cos, use_reentrant=False)
            else:
                x = block(x, sin, cos)
        return x
