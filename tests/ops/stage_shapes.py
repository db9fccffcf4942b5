"""Operator shapes of every A2Mamba arch's stages at 224² and 512² inputs,
read from ``A2Mamba.arch_settings`` (so a new arch is covered as added)."""
from mmmamba.models import A2Mamba
from mmmamba.models.layers.neighborhood import stage_dilation

INPUT_SIZES = (224, 512)
ARCHS = ('nano', 'tiny', 'small', 'base', 'large')


def stage_shapes():
    """Sorted unique ``(size, channels, heads, kernel, dilation, a2ssm)``
    of every arch's stages; ``size`` is the square map side (input / 4 /
    2**stage), ``a2ssm`` whether the stage aggregates scan states."""
    shapes = set()
    for arch in ARCHS:
        settings = A2Mamba.arch_settings[arch]
        for stage, (channels, heads, kernel) in enumerate(zip(
                settings['embed_dims'], settings['num_heads'],
                settings['kernel_sizes'])):
            for image in INPUT_SIZES:
                size = image // 4 // 2**stage
                dilation = stage_dilation(size, size, kernel)[0]
                shapes.add((size, channels, heads, kernel, dilation,
                            stage < 3))
    return sorted(shapes)


def neighborhood_cases():
    """Unique ``(size, head_dim, kernel, dilation)`` of the attention calls
    (local: dilation 1, dilated: the stage dilation)."""
    cases = set()
    for size, channels, heads, kernel, dilation, _ in stage_shapes():
        for dil in {1, dilation}:
            if size >= kernel * dil:  # else the mixer pads (small-map rule)
                cases.add((size, channels // heads, kernel, dil))
    return sorted(cases)
