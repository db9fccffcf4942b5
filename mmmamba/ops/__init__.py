"""The operators of the A2Mamba layers, usable with torch alone.

One package per operator (its checks, reference, ``torch.library`` custom op
and kernel calls); :mod:`.registry` is the table of ops and backends and
:mod:`.dispatch` picks a backend per call: CPU tensors run the C++ kernels
of the compiled extension ``mmmamba._C`` when it is built, else the
pure-PyTorch reference; ``MMMAMBA_OPS_BACKEND`` or :func:`use_backend` force
one backend and :func:`explain_backend` says which one a call would use and
why.

- ``na2d_qk(query, key, kernel_size, dilation=1, rpb=None)``
  → ``B × heads × H × W × Kh·Kw`` logits.
- ``na2d_av(attn, value, kernel_size, dilation=1)``
  → ``B × heads × H × W × dim``.
- ``selective_scan_states(u, delta, A, B, delta_bias=None,
  delta_softplus=True)`` → ``batch × D × N × L`` states (fp32).
- ``a2ssm_aggregate(attn_local, attn_dilated, states, kernel_size,
  dilation)`` → the A2SSM states (``B × G × d × H × W``) aggregated by the
  local (first half of the heads) and dilated (second half) attention maps,
  in one pass over the states.
- ``depthwise_conv2d(x, weight, bias=None, residual=False)`` → the
  depthwise convolution (stride 1, padding K/2) of a channels-last
  ``B × C × H × W`` map, plus ``x`` when ``residual``.

Kernel backends are ``torch.library`` custom ops (``torch.ops.mmmamba``):
``torch.compile(fullgraph=True)`` traces them. Nothing here imports
mmengine, mmcv, mmdet, mmseg or Triton.
"""
import torch

from .versions import MIN_TORCH, require

require('torch', torch.__version__, MIN_TORCH, 'the mmmamba operators')

from .a2ssm_aggregate import (  # noqa: E402
    a2ssm_aggregate, a2ssm_aggregate_reference)
from .depthwise_conv2d import (  # noqa: E402
    depthwise_conv2d, depthwise_conv2d_reference)
from .dispatch import (  # noqa: E402
    BackendUnavailableError, explain_backend, use_backend)
from .neighborhood import (  # noqa: E402
    na2d_av, na2d_av_reference, na2d_qk, na2d_qk_reference)
from .selective_scan import (  # noqa: E402
    selective_scan_states, selective_scan_states_reference)

__all__ = [
    'na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate',
    'depthwise_conv2d',
    'na2d_qk_reference', 'na2d_av_reference', 'selective_scan_states_reference',
    'a2ssm_aggregate_reference', 'depthwise_conv2d_reference',
    'explain_backend', 'use_backend', 'BackendUnavailableError'
]
