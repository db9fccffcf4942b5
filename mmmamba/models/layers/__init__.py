from .block import A2MambaBlock, A2MambaStage
from .mixer import MASSMixer
from .a2ssm import A2SSM
from .norm import LayerNorm2d
from .stem import build_downsample, build_stem
from .weight_init import init_conv_trunc_normal

__all__ = ['A2MambaBlock', 'A2MambaStage', 'MASSMixer', 'A2SSM',
           'LayerNorm2d', 'build_stem', 'build_downsample',
           'init_conv_trunc_normal']
