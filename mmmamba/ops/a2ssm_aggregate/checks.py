"""Argument checks of ``a2ssm_aggregate`` (every backend runs them first)."""
from ..neighborhood.checks import (check_5d, check_av_args, check_same,
                                   is_halo_form)
from ..neighborhood.window import as_pair

OP = 'a2ssm_aggregate'


def check_aggregate_args(attn_local, attn_dilated, states, kernel_size,
                         dilation):
    """All argument checks of ``a2ssm_aggregate`` → (kernel, dilation) pairs.

    ``kernel_size``: odd int (the same window for both halves);
    ``dilation``: int or ``(h, w)`` of the dilated half.
    """
    check_5d(states, 'states', '(B, G, d, H, W)', OP)
    batch, heads, _, height, width = states.shape
    kernel = as_pair(kernel_size, 'kernel_size', OP)
    if kernel[0] != kernel[1]:
        raise ValueError(f'{OP}: kernel_size must be one odd int (a square '
                         f'window, as the mixer uses), got {kernel_size!r}.')
    dil = as_pair(dilation, 'dilation', OP)
    half, padded_h, padded_w = attention_map(attn_local, 'attn_local',
                                              height, width, kernel)
    if attention_map(attn_dilated, 'attn_dilated', height, width,
                      kernel) != (half, padded_h, padded_w):
        raise ValueError(f'{OP}: attn_local and attn_dilated must cover the '
                         f'same map, got shapes {tuple(attn_local.shape)} '
                         f'and {tuple(attn_dilated.shape)}.')
    check_same(attn_local, attn_dilated, ('attn_local', 'attn_dilated'), OP)
    if attn_local.device != states.device:
        raise ValueError(f'{OP}: attention maps and states must be on the '
                         f'same device, got {attn_local.device} and '
                         f'{states.device}.')
    if attn_local.shape[0] != batch or 2 * half != heads:
        raise ValueError(f'{OP}: the attention maps must be (B, G/2, ...) = '
                         f'({batch}, {heads // 2}, ...) for states of shape '
                         f'{tuple(states.shape)}, got '
                         f'{tuple(attn_local.shape)}; G must be even.')
    if padded_h < height or padded_w < width:
        raise ValueError(f'{OP}: the attention maps ({padded_h}×{padded_w}) '
                         f'must cover the states ({height}×{width}).')
    # the window/size rules of na2d_av, per half (shape-only views): both
    # maps must be that of the value map
    value = attn_local.new_zeros(()).expand(batch, half, padded_h, padded_w, 1)
    check_av_args(attn_local, value, kernel, 1)
    check_av_args(attn_dilated, value, kernel, dil)
    return kernel, dil


def attention_map(attn, name, height, width, kernel, halo_form=None):
    """``(G/2, Hp, Wp)`` of an attention map: from its shape (window form),
    or, for the export's halo form (6-D; accepted while exporting unless
    ``halo_form`` says otherwise), the states' map padded to the window as
    the mixer pads it (``na2d_av``'s checks then verify its tiles)."""
    if is_halo_form(attn, halo_form):
        return (int(attn.shape[1]), max(int(height), kernel[0]),
                max(int(width), kernel[1]))
    check_5d(attn, name, '(B, G/2, Hp, Wp, K*K)', OP)
    return tuple(int(n) for n in attn.shape[1:4])
