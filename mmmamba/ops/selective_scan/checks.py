"""Argument checks of ``selective_scan_states`` (every backend runs them
first)."""
import torch


def check_scan_args(u, delta, A, B, delta_bias):
    """All argument checks of ``selective_scan_states`` (every backend)."""
    op = 'selective_scan_states'
    tensors = dict(u=u, delta=delta, A=A, B=B)
    if delta_bias is not None:
        tensors['delta_bias'] = delta_bias
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f'{op}: {name} must be a torch.Tensor, got '
                             f'{type(t).__name__}.')
        if not t.is_floating_point():
            raise ValueError(f'{op}: {name} must be a floating-point tensor, '
                             f'got {t.dtype}.')
        if t.device != u.device:
            raise ValueError(f'{op}: all inputs must be on one device; u is '
                             f'on {u.device}, {name} on {t.device}.')
    if u.dim() != 3:
        raise ValueError(f'{op}: u must be 3-D (batch, D, L), got shape '
                         f'{tuple(u.shape)}.')
    batch, channels, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f'{op}: delta must have the shape of u '
                         f'{tuple(u.shape)}, got {tuple(delta.shape)}.')
    if A.dim() != 2 or A.shape[0] != channels:
        raise ValueError(f'{op}: A must be 2-D (D, N) with D = {channels}, '
                         f'got shape {tuple(A.shape)}.')
    state = A.shape[1]
    if state < 1:
        raise ValueError(f'{op}: A must have N >= 1 states, got shape '
                         f'{tuple(A.shape)}.')
    expected = (batch, state, length)
    if B.dim() == 4:
        if B.shape[1] != 1:
            raise ValueError(f'{op}: a 4-D B must be (batch, 1, N, L) (one '
                             f'group), got shape {tuple(B.shape)}.')
        got = (B.shape[0],) + tuple(B.shape[2:])
    elif B.dim() == 3:
        got = tuple(B.shape)
    else:
        raise ValueError(f'{op}: B must be (batch, N, L) or (batch, 1, N, L), '
                         f'got shape {tuple(B.shape)}.')
    if got != expected:
        raise ValueError(f'{op}: B must be (batch, N, L) = {expected} (or '
                         f'(batch, 1, N, L)) to match u {tuple(u.shape)} and '
                         f'A {tuple(A.shape)}, got shape {tuple(B.shape)}.')
    if delta_bias is not None and tuple(delta_bias.shape) != (channels,):
        raise ValueError(f'{op}: delta_bias must have shape (D,) = '
                         f'({channels},), got {tuple(delta_bias.shape)}.')
