"""2-D neighborhood attention (NATTEN <= 0.17 semantics)."""
from .aggregate import a2ssm_aggregate_reference
from .reference import na2d_av_reference, na2d_qk_reference

__all__ = ['na2d_qk_reference', 'na2d_av_reference',
           'a2ssm_aggregate_reference']
