"""Operators used by the A2Mamba layers.

Public names and the backends behind them. For now every public op is the
pure-PyTorch reference; a dispatch layer (``dispatch.py``) will pick between
the reference and compiled kernels per call.

- ``na2d_qk(query, key, kernel_size, dilation=1, rpb=None)``
  → ``B × heads × H × W × Kh·Kw`` logits.
- ``na2d_av(attn, value, kernel_size, dilation=1)``
  → ``B × heads × H × W × dim``.
- ``selective_scan_states(u, delta, A, B, delta_bias=None,
  delta_softplus=True)`` → ``batch × D × N × L`` states (fp32).
"""
from .neighborhood import na2d_av_reference, na2d_qk_reference
from .selective_scan import selective_scan_states_reference


def na2d_qk(query, key, kernel_size, dilation=1, rpb=None):
    """Neighborhood attention logits; see :func:`na2d_qk_reference`."""
    return na2d_qk_reference(query, key, kernel_size, dilation, rpb)


def na2d_av(attn, value, kernel_size, dilation=1):
    """Neighborhood attention output; see :func:`na2d_av_reference`."""
    return na2d_av_reference(attn, value, kernel_size, dilation)


def selective_scan_states(u, delta, A, B, delta_bias=None,
                          delta_softplus=True):
    """All scan states; see :func:`selective_scan_states_reference`."""
    return selective_scan_states_reference(u, delta, A, B, delta_bias,
                                           delta_softplus)


__all__ = [
    'na2d_qk', 'na2d_av', 'selective_scan_states', 'na2d_qk_reference',
    'na2d_av_reference', 'selective_scan_states_reference'
]
