from .mass_fpn import MASSFPN

__all__ = ['MASSFPN']
