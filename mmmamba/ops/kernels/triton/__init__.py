"""Triton backend: selective scan, ``na2d_av`` and the fused A2SSM
aggregation as Triton kernels (see :mod:`mmmamba.ops.kernels` for the
interface). Importing this module requires triton; nothing else in mmmamba
imports it at package import time.
"""
from .aggregate import a2ssm_aggregate_backward, a2ssm_aggregate_forward
from .neighborhood import na2d_av_backward, na2d_av_forward
from .selective_scan import selective_scan_backward, selective_scan_forward

__all__ = [
    'a2ssm_aggregate_backward', 'a2ssm_aggregate_forward',
    'na2d_av_backward', 'na2d_av_forward', 'selective_scan_backward',
    'selective_scan_forward'
]
