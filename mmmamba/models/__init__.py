from ..registry import require_frameworks

require_frameworks()  # a clear ImportError, before any OpenMMLab import

from .backbones import A2Mamba  # noqa: E402
from .necks import MASSFPN  # noqa: E402

__all__ = ['A2Mamba', 'MASSFPN']
