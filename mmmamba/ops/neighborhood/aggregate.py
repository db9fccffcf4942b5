"""A2SSM aggregation (docs/design.md § Fused A2SSM aggregation), pure PyTorch.

The A2SSM hidden states come out of the scan as ``B × G × d × H × W``
(channel-major). The mixer's local attention (heads ``[0, g)``, dilation 1)
and dilated attention (heads ``[g, G)``) aggregate them over maps that may be
padded to ``Hp × Wp`` (small-map rule, zero states in the padding). This
reference states the semantics with the layout changes spelled out; the
kernels read the states once, in the scan's layout.
"""
import torch
import torch.nn.functional as F

from .indexing import as_pair, check_5d, check_av_args, check_same
from .reference import na2d_av_reference

OP = 'a2ssm_aggregate'


def check_aggregate_args(attn_local, attn_dilated, states, kernel_size,
                         dilation):
    """All argument checks of ``a2ssm_aggregate`` → (kernel, dilation) pairs.

    ``kernel_size``: odd int (the same window for both halves);
    ``dilation``: int or ``(h, w)`` of the dilated half.
    """
    check_5d(states, 'states', '(B, G, d, H, W)', OP)
    check_5d(attn_local, 'attn_local', '(B, G/2, Hp, Wp, K*K)', OP)
    check_5d(attn_dilated, 'attn_dilated', '(B, G/2, Hp, Wp, K*K)', OP)
    check_same(attn_local, attn_dilated, ('attn_local', 'attn_dilated'), OP)
    if attn_local.device != states.device:
        raise ValueError(f'{OP}: attention maps and states must be on the '
                         f'same device, got {attn_local.device} and '
                         f'{states.device}.')
    if attn_local.shape != attn_dilated.shape:
        raise ValueError(f'{OP}: attn_local and attn_dilated must have the '
                         f'same shape, got {tuple(attn_local.shape)} and '
                         f'{tuple(attn_dilated.shape)}.')
    batch, heads, _, height, width = states.shape
    half, padded_h, padded_w = attn_local.shape[1:4]
    if attn_local.shape[0] != batch or 2 * half != heads:
        raise ValueError(f'{OP}: the attention maps must be (B, G/2, ...) = '
                         f'({batch}, {heads // 2}, ...) for states of shape '
                         f'{tuple(states.shape)}, got '
                         f'{tuple(attn_local.shape)}; G must be even.')
    if padded_h < height or padded_w < width:
        raise ValueError(f'{OP}: the attention maps ({padded_h}×{padded_w}) '
                         f'must cover the states ({height}×{width}).')
    kernel = as_pair(kernel_size, 'kernel_size', OP)
    if kernel[0] != kernel[1]:
        raise ValueError(f'{OP}: kernel_size must be one odd int (a square '
                         f'window, as the mixer uses), got {kernel_size!r}.')
    dil = as_pair(dilation, 'dilation', OP)
    # the window/size rules of na2d_av, per half (shape-only views)
    value = attn_local.new_zeros(()).expand(batch, half, padded_h, padded_w, 1)
    check_av_args(attn_local, value, kernel, 1)
    check_av_args(attn_dilated, value, kernel, dil)
    return kernel, dil


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
