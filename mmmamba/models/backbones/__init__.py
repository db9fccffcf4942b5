from .a2mamba import A2Mamba

__all__ = ['A2Mamba']
