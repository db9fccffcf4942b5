"""A2SSM aggregation (docs/design.md § Fused A2SSM aggregation), pure PyTorch:
the oracle and the fallback.

The A2SSM hidden states come out of the scan as ``B × G × d × H × W``
(channel-major). The mixer's local attention (heads ``[0, g)``, dilation 1)
and dilated attention (heads ``[g, G)``) aggregate them over maps that may be
padded to ``Hp × Wp`` (small-map rule, zero states in the padding). This
reference states the semantics with the layout changes spelled out; the
kernels read the states once, in the scan's layout.
"""
import torch
import torch.nn.functional as F

from ..neighborhood.reference import na2d_av_reference
from .checks import check_aggregate_args


def states_as_values(states, padded_h, padded_w):
    """``B × G × d × H × W`` → ``B × G × Hp × Wp × d``, zero-padded."""
    height, width = states.shape[-2:]
    values = states.permute(0, 1, 3, 4, 2)  # B, G, H, W, d
    return F.pad(values, (0, 0, 0, padded_w - width, 0, padded_h - height))


def a2ssm_aggregate_reference(attn_local, attn_dilated, states, kernel_size,
                              dilation):
    """Local/dilated neighborhood aggregation of the A2SSM states.

    Args:
        attn_local, attn_dilated: ``B × G/2 × Hp × Wp × K²`` attention maps.
        states: ``B × G × d × H × W`` (``H <= Hp``, ``W <= Wp``).
        kernel_size: odd window K of both halves.
        dilation: int or ``(h, w)``, the dilated half's dilation.

    Returns:
        ``B × G × d × H × W`` in states' dtype: heads ``[0, G/2)`` aggregated
        by ``attn_local`` (dilation 1), the others by ``attn_dilated``.
    """
    kernel, dil = check_aggregate_args(attn_local, attn_dilated, states,
                                       kernel_size, dilation)
    half = attn_local.shape[1]
    height, width = states.shape[-2:]
    values = states_as_values(states, *attn_local.shape[2:4])
    attn_local, attn_dilated = (a.to(states.dtype)
                                for a in (attn_local, attn_dilated))
    local = na2d_av_reference(attn_local, values[:, :half], kernel, 1)
    dilated = na2d_av_reference(attn_dilated, values[:, half:], kernel, dil)
    out = torch.cat([local, dilated], dim=1)[:, :, :height, :width]
    return out.permute(0, 1, 4, 2, 3).contiguous()  # B, G, d, H, W
