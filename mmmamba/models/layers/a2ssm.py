"""Attention-augmented SSM (docs/design.md § A2SSM): a scan whose hidden states
are aggregated by the mixer's local and dilated attention maps."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmamba.ops import a2ssm_aggregate, selective_scan_states
from .precision import island_dtype


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
        self.conv = nn.Conv2d(channels, channels, 5, padding=2,
                              groups=channels)
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
        """y: B×C×H×W; attn_*: B×G/2×Hp×Wp×K² (Hp, Wp ≥ H, W when padded)."""
        B, C, H, W = y.shape
        G, g = self.num_heads, self.num_heads // 2
        d = C // G
        dtype = self.D.dtype  # the module's (a cast model's) dtype
        island = island_dtype(dtype)
        xs = F.silu(self.conv(y)).flatten(2)  # B, C, L
        dbl = torch.einsum('rc,bcl->brl', self.x_proj.weight, xs)
        dt_low, b_t, c_t = dbl.split([self.dt_rank, 1, 1], dim=1)
        dt = torch.einsum('cr,brl->bcl', self.dt_proj.weight, dt_low)
        states = selective_scan_states(
            xs, dt, -self.A_log.to(island).exp(), b_t,
            delta_bias=self.dt_proj.bias.to(island), delta_softplus=True)
        states = states.view(B, G, d, H, W)  # the scan's layout (fp32)
        fused = a2ssm_aggregate(attn_local, attn_dilated, states, kernel_size,
                                dilation)  # B, G, d, H, W
        fused = self.head_mix(fused.view(B, G, d * H, W).to(
            self.head_mix.weight.dtype))  # mix heads
        with torch.autocast(device_type=y.device.type, enabled=False):
            out = (fused.reshape(B, C, H * W).to(island) * c_t.to(island) +
                   self.D.to(island)[:, None] * xs.to(island))  # B, C, L
        return out.view(B, C, H, W).to(dtype)
