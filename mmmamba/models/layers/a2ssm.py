"""Attention-augmented SSM (docs/design.md § A2SSM): a scan whose hidden states
are aggregated by the mixer's local and dilated attention maps."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmamba.ops import a2ssm_aggregate, selective_scan_states
from mmmamba.ops.onnx_shapes import static_shape
from .depthwise_conv import DepthwiseConv2d
from .precision import island_dtype
from .recompute import recompute


class A2SSM(nn.Module):
    """Selective scan (d_state 1) with attention-aggregated hidden states.

    Args:
        channels (int): C.
        num_heads (int): G; the first G/2 heads' states are aggregated with
            the local attention, the others with the dilated attention.
    """

    def __init__(self, channels, num_heads, dt_min=1e-3, dt_max=0.1,
                 dt_floor=1e-4):
        super().__init__()
        self.num_heads = num_heads
        self.dt_rank = math.ceil(channels / 16)
        self.conv = DepthwiseConv2d(channels, 5, kernel_without_grad=False)
        self.x_proj = nn.Linear(channels, self.dt_rank + 2, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, channels)
        self.A_log = nn.Parameter(torch.zeros(channels, 1))
        self.D = nn.Parameter(torch.ones(channels))
        self.head_mix = nn.Conv2d(num_heads, num_heads, 1)
        self._init_dt_proj(dt_min, dt_max, dt_floor)

    def _init_dt_proj(self, dt_min, dt_max, dt_floor):
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        log_dt = torch.rand(self.dt_proj.out_features) * (
            math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        dt = log_dt.exp().clamp(min=dt_floor)
        with torch.no_grad():  # inverse softplus
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, y, attn_local, attn_dilated, kernel_size, dilation):
        """y: B×C×H×W; attn_*: B×G/2×Hp×Wp×K² (Hp, Wp ≥ H, W when padded).
        Returns B×C×H×W in y's layout (channels-last for channels-last y)."""
        C, H, W = static_shape(y)  # ints: constants in an export's graph
        G, g = self.num_heads, self.num_heads // 2
        d = C // G
        dtype = self.D.dtype  # the module's (a cast model's) dtype
        island = island_dtype(dtype)
        xs = F.silu(self.conv(y)).flatten(2)  # B, C, L
        dbl = self.x_proj.weight @ xs  # B, R+2, L
        dt_low, b_t, c_t = dbl.split([self.dt_rank, 1, 1], dim=1)
        dt = self.dt_proj.weight @ dt_low  # B, C, L
        states = selective_scan_states(
            xs, dt, -self.A_log.to(island).exp(), b_t,
            delta_bias=self.dt_proj.bias.to(island), delta_softplus=True)
        states = states.view(-1, G, d, H, W)  # the scan's layout (fp32)
        fused = a2ssm_aggregate(attn_local, attn_dilated, states, kernel_size,
                                dilation)  # B, G, d, H, W
        out = recompute(self._output, xs, fused, c_t)  # B, C, L
        return out.unflatten(2, (H, W)).to(dtype)  # B, C, H, W

    def _output(self, xs, fused, c_t):
        """``D·xs + head_mix(fused)·c_t`` (B×C×L) in the fp32 island; xs:
        B×C×L, fused: B×G×d×H×W, c_t: B×1×L. Run as a recompute segment, so
        backward keeps fused, not the head-mixed copy as well."""
        C, L = static_shape(xs)
        G = self.num_heads
        island = island_dtype(self.D.dtype)
        fused = self._mix_heads(fused.flatten(2).to(
            self.head_mix.weight.dtype))  # B, G, d·L
        with torch.autocast(device_type=xs.device.type, enabled=False):
            # D·xs first: the sum takes xs's layout (channels-last for a
            # channels-last y) and reads fused in the scan's layout
            return (self.D.to(island)[:, None] * xs.to(island)).add_(
                fused.view(-1, C, L).to(island) * c_t.to(island))

    def _mix_heads(self, x):
        """``head_mix`` (a 1×1 conv over the G heads) as one batched matmul:
        x B×G×N → B×G×N. oneDNN runs a G-channel 1×1 conv over d·H×W pixels
        20-100× slower than this GEMM."""
        G = self.num_heads
        weight = self.head_mix.weight.view(1, G, G).expand(x.shape[0], G, G)
        return torch.baddbmm(self.head_mix.bias.view(1, G, 1), weight, x)
