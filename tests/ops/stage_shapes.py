"""Operator shapes of every A2Mamba arch's stages at 224² and 512² inputs,
read from ``A2Mamba.arch_settings`` (so a new arch is covered as added)."""
from mmmamba.models.backbones.stage_shapes import stage_shapes as arch_shapes

INPUT_SIZES = (224, 512)
ARCHS = ('nano', 'tiny', 'small', 'base', 'large')


def stage_shapes(archs=ARCHS, input_sizes=INPUT_SIZES):
    """Sorted unique ``(size, channels, heads, kernel, dilation, a2ssm)``
    of the archs' stages; ``size`` is the square map side (input / 4 /
    2**stage), ``a2ssm`` whether the stage aggregates scan states."""
    return sorted({shape[1:] for arch in archs for image in input_sizes
                   for shape in arch_shapes(arch, image)})


def neighborhood_cases():
    """Unique ``(size, head_dim, kernel, dilation)`` of the attention calls
    (local: dilation 1, dilated: the stage dilation)."""
    cases = set()
    for size, channels, heads, kernel, dilation, _ in stage_shapes():
        for dil in {1, dilation}:
            if size >= kernel * dil:  # else the mixer pads (small-map rule)
                cases.add((size, channels // heads, kernel, dil))
    return sorted(cases)
