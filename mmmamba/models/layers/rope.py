"""2-D rotary position embedding (docs/design.md § 2-D RoPE)."""
import torch
import torch.nn as nn

from .precision import island_dtype


class RoPE2d(nn.Module):
    """Sin/cos tables for a H×W map: first half of the head dim encodes the
    row, second half the column, frequencies repeated on interleaved pairs.

    Args:
        head_dim (int): channels per head ``d``; must be divisible by 4.
    """

    def __init__(self, head_dim):
        super().__init__()
        if head_dim % 4:
            raise ValueError(f'2-D RoPE needs a head dim divisible by 4, got '
                             f'{head_dim}; choose embed_dims / num_heads '
                             f'accordingly')
        angle = 1.0 / (10000**torch.linspace(0, 1, head_dim // 4))
        angle = angle.unsqueeze(-1).repeat(1, 2).flatten()  # d/2
        self.register_buffer('angle', angle)

    def forward(self, height, width):
        """Return ``(sin, cos)``, each H×W×d, computed in fp32 (fp64 for a
        double buffer) also in a half model: a phase of 100 rad held in fp16
        would be off by up to 0.03."""
        angle = self.angle.to(island_dtype(self.angle.dtype))
        rows = torch.arange(height).to(angle)
        cols = torch.arange(width).to(angle)
        phase_h = rows[:, None] * angle[None, :]  # H, d/2
        phase_w = cols[:, None] * angle[None, :]  # W, d/2
        phase = torch.cat([
            phase_h[:, None, :].expand(-1, width, -1),
            phase_w[None, :, :].expand(height, -1, -1),
        ], dim=-1)  # H, W, d
        return phase.sin(), phase.cos()


def rotate_pairs(x):
    """(x0, x1) -> (-x1, x0) on interleaved pairs of the last axis (d), as
    ``x @ R`` with R block-diagonal of [[0, 1], [-1, 0]] (exact: each result
    is one entry times ±1). A product, not strided slices: backward runs a
    second product instead of a zero-filled map per slice, and the exported
    graph one MatMul instead of negative-step Slices, which onnxruntime runs
    slowly."""
    dim = x.shape[-1]
    swap = torch.eye(dim, dtype=x.dtype, device=x.device).view(
        dim // 2, 2, dim).flip(1).reshape(dim, dim)  # 2i <-> 2i + 1
    sign = x.new_tensor([-1.0, 1.0]).repeat(dim // 2)  # d
    with torch.autocast(device_type=x.device.type, enabled=False):
        return x @ (swap * sign)  # in x's dtype, as autocast would not be


def apply_rope(x, sin, cos):
    """x: ..., H, W, d; sin/cos: H, W, d. Returns ``x·cos + rot(x)·sin`` as
    a contiguous tensor in x's dtype (under autocast q, k and v then share
    one dtype, as the attention ops require).

    x is copied once into the contiguous layout the attention kernels read,
    and the products and the sum are taken in place in that copy (in place
    on whole tensors, never on views: autograd would copy those back).
    """
    sin, cos = sin.to(x.dtype), cos.to(x.dtype)
    x = x.clone(memory_format=torch.contiguous_format)
    rotated = rotate_pairs(x).mul_(sin)
    return x.mul_(cos).add_(rotated)
