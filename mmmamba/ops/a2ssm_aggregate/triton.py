"""The fused A2SSM aggregation on the Triton ``av`` kernels.

The states stay in the scan's ``B × G × d × H × W`` layout: each half
(local heads ``[0, g)`` with dilation 1, dilated heads ``[g, G)``) is one
``av`` launch on a permuted view ``B × g × H × W × d`` of the states, read
through strides (no copy). The attention maps cover the padded
``Hp × Wp`` map; the kernels treat keys beyond ``H × W`` as zero states and
compute (or take gradients of) only the ``H × W`` queries that survive the
crop, writing out / dstates directly in ``B × G × d × H × W``.
"""
from ..neighborhood.triton import (av_dattn_into, av_dvalue_into,
                                   av_forward_into)
from ..neighborhood.window import as_pair

OP = 'a2ssm_aggregate'


def _as_values(tensor):
    """``B × g × d × H × W`` → the view ``B × g × H × W × d``."""
    return tensor.permute(0, 1, 3, 4, 2)


def _halves(tensor, half):
    """The local and the dilated half of ``B × G × d × H × W``, as values."""
    return _as_values(tensor[:, :half]), _as_values(tensor[:, half:])


def a2ssm_aggregate_forward(attn_local, attn_dilated, states, kernel_size,
                            dilation):
    """Aggregate the states of both halves (arguments already checked).

    Args:
        attn_local, attn_dilated: ``B × g × Hp × Wp × K²``.
        states: ``B × G × d × H × W`` (``G = 2g``, ``H <= Hp``, ``W <= Wp``).
        kernel_size: ``K`` or ``(K, K)``.
        dilation: the dilated half's ``δ`` or ``(h, w)``.

    Returns:
        ``B × G × d × H × W`` in states' dtype.
    """
    half = attn_local.shape[1]
    kernel = as_pair(kernel_size, 'kernel_size', OP)
    dilations = ((1, 1), as_pair(dilation, 'dilation', OP))
    out = states.new_empty(states.shape)  # B, G, d, H, W
    if out.numel() == 0:
        return out
    for attn, value, out_view, dil in zip((attn_local, attn_dilated),
                                          _halves(states, half),
                                          _halves(out, half),
                                          dilations):
        av_forward_into(attn, value, out_view, kernel, dil)
    return out


def a2ssm_aggregate_backward(grad, attn_local, attn_dilated, states,
                             kernel_size, dilation):
    """Gradients of :func:`a2ssm_aggregate_forward`.

    Args:
        grad: ``B × G × d × H × W`` (any strides); the others as for the
            forward.

    Returns:
        ``(dattn_local, dattn_dilated, dstates)`` in the dtypes of the inputs;
        dattn is zero at the padded queries (they are cropped away).
    """
    half = attn_local.shape[1]
    kernel = as_pair(kernel_size, 'kernel_size', OP)
    dilations = ((1, 1), as_pair(dilation, 'dilation', OP))
    dattns = (attn_local.new_empty(attn_local.shape),  # B, g, Hp, Wp, K²
              attn_dilated.new_empty(attn_dilated.shape))
    dstates = states.new_empty(states.shape)  # B, G, d, H, W
    if states.numel() == 0:
        return dattns + (dstates, )
    for attn, dattn, value, grad_view, dvalue, dil in zip(
            (attn_local, attn_dilated), dattns, _halves(states, half),
            _halves(grad, half), _halves(dstates, half), dilations):
        av_dattn_into(grad_view, value, dattn, kernel, dil)
        av_dvalue_into(grad_view, attn, dvalue, kernel, dil)
    return dattns + (dstates, )
