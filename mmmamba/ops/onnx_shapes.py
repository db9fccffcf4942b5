"""Shapes in the export formulations (``mmmamba/ops/<op>/onnx.py``) and the
model layers they are traced through (mixer, A2SSM)."""

__all__ = ['static_shape']


def static_shape(x, start=1):
    """``x.shape[start:]`` as Python ints: inside an export's trace the map
    size is fixed (only the batch axis stays dynamic), so the formulations'
    reshapes take constant shapes (``-1`` for the batch) instead of shape
    arithmetic in the graph."""
    return tuple(int(n) for n in x.shape[start:])
