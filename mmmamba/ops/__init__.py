"""Operators used by the A2Mamba layers.

Public names go through one dispatch (:mod:`.dispatch`): per call, CPU
tensors run the C++ kernels of the compiled extension ``mmmamba._C`` when it
is built, else the pure-PyTorch reference; ``MMMAMBA_OPS_BACKEND`` or
:func:`use_backend` force one backend and :func:`explain_backend` says which
one a call would use and why.

- ``na2d_qk(query, key, kernel_size, dilation=1, rpb=None)``
  → ``B × heads × H × W × Kh·Kw`` logits.
- ``na2d_av(attn, value, kernel_size, dilation=1)``
  → ``B × heads × H × W × dim``.
- ``selective_scan_states(u, delta, A, B, delta_bias=None,
  delta_softplus=True)`` → ``batch × D × N × L`` states (fp32).
"""
from .dispatch import (BackendUnavailableError, explain_backend, na2d_av,
                       na2d_qk, selective_scan_states, use_backend)
from .neighborhood import na2d_av_reference, na2d_qk_reference
from .selective_scan import selective_scan_states_reference

__all__ = [
    'na2d_qk', 'na2d_av', 'selective_scan_states', 'na2d_qk_reference',
    'na2d_av_reference', 'selective_scan_states_reference',
    'explain_backend', 'use_backend', 'BackendUnavailableError'
]
