from .backbones import A2Mamba
from .necks import MASSFPN

__all__ = ['A2Mamba', 'MASSFPN']
