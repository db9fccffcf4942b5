from .checkpoint import load_checkpoint_file, load_backbone_weights
from .ckpt_convert import convert_official_a2mamba

__all__ = ['convert_official_a2mamba', 'load_checkpoint_file',
           'load_backbone_weights']
