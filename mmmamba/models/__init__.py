from .backbones import A2Mamba

__all__ = ['A2Mamba']
