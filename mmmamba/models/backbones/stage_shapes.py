"""The operator shapes of each A2Mamba stage at an input size, read from
``A2Mamba.arch_settings`` (for kernel tests and benchmarks)."""
from typing import NamedTuple

from ..layers.neighborhood import stage_dilation
from .a2mamba import A2Mamba


class StageShape(NamedTuple):
    """One stage's mixer at one input size (square maps)."""
    stage: int  # 0-3
    size: int  # map side: input / 4 / 2**stage
    channels: int  # C
    heads: int  # G; local and dilated attention use G/2 each
    kernel: int  # K
    dilation: int  # min(size // K, K), at least 1
    a2ssm: bool  # stages 0-2 aggregate scan states, stage 3 attends globally


def stage_shapes(arch, image_size):
    """The four :class:`StageShape` of ``arch`` for ``image_size``² inputs."""
    settings = A2Mamba.arch_settings[arch]
    shapes = []
    for stage, (channels, heads, kernel) in enumerate(zip(
            settings['embed_dims'], settings['num_heads'],
            settings['kernel_sizes'])):
        size = image_size // 4 // 2**stage
        shapes.append(StageShape(stage, size, channels, heads, kernel,
                                 stage_dilation(size, size, kernel)[0],
                                 stage < A2Mamba.num_stages - 1))
    return shapes


class DepthwiseShape(NamedTuple):
    """One depthwise convolution of a stage at one input size."""
    use: str  # 'cpe' (3×3 on C), 'ffn' (3×3 on the FFN width), '5x5' (C)
    stage: int  # 0-3
    size: int  # map side
    channels: int
    kernel: int
    residual: bool  # x + conv(x) (the cpe and the FFN)


def depthwise_shapes(arch, image_size):
    """The :class:`DepthwiseShape` of every stage of ``arch`` at
    ``image_size``²: the block's two positional encodings and the FFN's
    convolution (3×3, residual), the mixer's ``lepe`` and A2SSM's ``conv``
    (5×5; A2SSM's only in stages 0-2)."""
    ratios = A2Mamba.arch_settings[arch]['mlp_ratios']
    shapes = []
    for s in stage_shapes(arch, image_size):
        hidden = int(s.channels * ratios[s.stage])
        shapes += [DepthwiseShape('cpe', s.stage, s.size, s.channels, 3, True),
                   DepthwiseShape('ffn', s.stage, s.size, hidden, 3, True),
                   DepthwiseShape('5x5', s.stage, s.size, s.channels, 5,
                                  False)]
    return shapes
