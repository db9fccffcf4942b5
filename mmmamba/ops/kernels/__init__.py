"""Kernel backends of the mmmamba operators: one module per backend.

``cpu`` (C++ kernels of ``mmmamba._C``), ``cuda`` (CUDA launchers linked
into ``mmmamba._C``), ``triton`` (Triton kernels) and ``cuda_host`` (the
CUDA launchers compiled for the host over a CUDA emulation,
``mmmamba._C_cuda_host``: a test backend for CPU tensors) each implement
some of the functions below; :mod:`mmmamba.ops.dispatch` picks a backend per
call and :mod:`mmmamba.ops.library` wraps the functions into
``torch.library`` custom ops with autograd and fake (meta) implementations.
A backend that lacks a function leaves it undefined and the dispatch falls
back to the reference.

Every function receives arguments already checked by the dispatch (the
reference's checks): tensors may be non-contiguous and fp16 / bf16 / fp32 /
fp64; ``kernel`` and ``dilation`` are checked ``(h, w)`` int pairs. Results
are computed with fp32 accumulation (fp64 when the inputs are fp64).

Neighborhood attention (tensors ``B × heads × H × W × C``):

- ``na2d_qk_forward(query, key, rpb, kernel, dilation)`` → attn
  ``B × heads × H × W × Kh·Kw`` in query's dtype; ``rpb`` is
  ``heads × (2Kh-1) × (2Kw-1)`` or None.
- ``na2d_qk_backward(grad, query, key, rpb, kernel, dilation)``
  → ``(dquery, dkey, drpb or None)`` in the inputs' dtypes.
- ``na2d_av_forward(attn, value, kernel, dilation)`` → out, value's dtype.
- ``na2d_av_backward(grad, attn, value, kernel, dilation)``
  → ``(dattn, dvalue)``.

Selective scan, all states (``B`` is 3-D ``batch × N × L`` here):

- ``selective_scan_forward(u, delta, A, B, delta_bias, delta_softplus)``
  → h ``batch × D × N × L`` in fp32 (fp64 if any input is fp64).
- ``selective_scan_backward(grad, u, delta, A, B, delta_bias,
  delta_softplus, h)`` → ``(du, ddelta, dA, dB, ddelta_bias or None)`` in
  the inputs' dtypes; ``h`` is the forward's output.

A2SSM aggregation (the fused op; ``g`` heads per half, ``G = 2g``):

- ``a2ssm_aggregate_forward(attn_local, attn_dilated, states, kernel_size,
  dilation)``: ``attn_*``: ``B × g × Hp × Wp × K²``; ``states``:
  ``B × G × d × H × W`` (the scan's layout, ``H <= Hp``, ``W <= Wp``); returns
  ``B × G × d × H × W`` in states' dtype where, with ``v`` the states seen as
  ``B × G × H × W × d`` zero-padded to ``Hp × Wp``,
  ``out[:, :g] = na2d_av(attn_local, v[:, :g], K, 1)`` and
  ``out[:, g:] = na2d_av(attn_dilated, v[:, g:], K, dilation)``, cropped to
  ``H × W``. ``dilation`` is the dilated half's ``(h, w)`` pair.
- ``a2ssm_aggregate_backward(grad, attn_local, attn_dilated, states,
  kernel_size, dilation)`` → ``(dattn_local, dattn_dilated, dstates)``.
"""
