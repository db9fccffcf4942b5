"""Argument checks of ``na2d_qk`` and ``na2d_av`` (every backend runs them
first; the window rule itself is :mod:`.window`)."""
import torch

from ..onnx_shapes import static_shape
from .onnx import halo_form, tiled_shape
from .window import check_map_size, check_window


def check_5d(tensor, name, layout, op):
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f'{op}: {name} must be a torch.Tensor, got '
                         f'{type(tensor).__name__}.')
    if tensor.dim() != 5:
        raise ValueError(f'{op}: {name} must be 5-D {layout}, got shape '
                         f'{tuple(tensor.shape)}.')
    if not tensor.is_floating_point():
        raise ValueError(f'{op}: {name} must be a floating-point tensor, got '
                         f'{tensor.dtype}.')


def check_same(first, second, names, op):
    """Same dtype and device, with a message that names both tensors."""
    a, b = names
    if first.device != second.device:
        raise ValueError(f'{op}: {a} and {b} must be on the same device, got '
                         f'{first.device} and {second.device}.')
    if first.dtype != second.dtype:
        raise ValueError(f'{op}: {a} and {b} must have the same dtype, got '
                         f'{first.dtype} and {second.dtype}; cast one of '
                         f'them first.')


def check_rpb(rpb, heads, kernel, device, op):
    expected = (heads, 2 * kernel[0] - 1, 2 * kernel[1] - 1)
    if not isinstance(rpb, torch.Tensor):
        raise ValueError(f'{op}: rpb must be a torch.Tensor or None, got '
                         f'{type(rpb).__name__}.')
    if tuple(rpb.shape) != expected:
        raise ValueError(f'{op}: rpb must have shape (heads, 2*Kh-1, 2*Kw-1) '
                         f'= {expected}, got {tuple(rpb.shape)}.')
    if not rpb.is_floating_point():
        raise ValueError(f'{op}: rpb must be a floating-point tensor, got '
                         f'{rpb.dtype}.')
    if rpb.device != device:
        raise ValueError(f'{op}: rpb must be on the same device as query '
                         f'({device}), got {rpb.device}.')


def check_qk_args(query, key, kernel_size, dilation, rpb):
    """All argument checks of ``na2d_qk`` (every backend) → (kernel, dil)."""
    op = 'na2d_qk'
    layout = '(B, heads, H, W, dim)'
    check_5d(query, 'query', layout, op)
    check_5d(key, 'key', layout, op)
    if query.shape != key.shape:
        raise ValueError(f'{op}: query and key must have the same shape, got '
                         f'{tuple(query.shape)} and {tuple(key.shape)}.')
    check_same(query, key, ('query', 'key'), op)
    kernel, dil = check_window(kernel_size, dilation, op)
    check_map_size(query.shape[2], query.shape[3], kernel, dil, op)
    if rpb is not None:
        check_rpb(rpb, query.shape[1], kernel, query.device, op)
    return kernel, dil


def is_halo_form(attn, exporting=None):
    """Whether ``attn`` is attention in the export's halo form: a 6-D tensor,
    accepted only while exporting to ONNX (``exporting``: override that
    state, for the export formulations called directly)."""
    if exporting is None:
        exporting = torch.onnx.is_in_onnx_export()
    return exporting and isinstance(attn, torch.Tensor) and attn.dim() == 6


def check_av_args(attn, value, kernel_size, dilation):
    """All argument checks of ``na2d_av`` (every backend) → (kernel, dil).

    While exporting to ONNX, ``attn`` may also be in the export's halo form
    (:mod:`.onnx`), as ``na2d_qk`` returns it there."""
    op = 'na2d_av'
    check_5d(value, 'value', '(B, heads, H, W, dim)', op)
    if is_halo_form(attn):
        return check_halo_form(attn, value, kernel_size, dilation, op)
    check_5d(attn, 'attn', '(B, heads, H, W, Kh*Kw)', op)
    if attn.shape[:4] != value.shape[:4]:
        raise ValueError(f'{op}: attn and value must agree on (B, heads, H, '
                         f'W), got attn {tuple(attn.shape)} and value '
                         f'{tuple(value.shape)}.')
    check_same(attn, value, ('attn', 'value'), op)
    kernel, dil = check_window(kernel_size, dilation, op)
    neighbours = kernel[0] * kernel[1]
    if attn.shape[-1] != neighbours:
        raise ValueError(f'{op}: attn last dim must be Kh*Kw = {kernel[0]}*'
                         f'{kernel[1]} = {neighbours} for kernel_size '
                         f'{kernel_size!r}, got {attn.shape[-1]}.')
    check_map_size(value.shape[2], value.shape[3], kernel, dil, op)
    return kernel, dil


def check_halo_form(attn, value, kernel_size, dilation, op):
    """``attn`` is the halo-form attention of ``value``'s map → (kernel,
    dil)."""
    kernel, dil = check_window(kernel_size, dilation, op)
    heads, height, width = static_shape(value)[:3]  # the batch is dynamic
    check_map_size(height, width, kernel, dil, op)
    want = (heads, *tiled_shape(height, width, kernel, dil))
    halo = halo_form(height, width, kernel, dil)
    if not halo or static_shape(attn) != want:
        expected = ('B', *want) if halo else 'none (window form)'
        raise ValueError(
            f'{op}: a 6-D attn is the halo form of the exported attention, '
            f'which na2d_qk returns for this map, kernel and dilation: '
            f'{expected}; got {tuple(attn.shape)}. Pass the attention '
            f'na2d_qk returned (softmax over its last axis) for the same '
            f'map.')
    check_same(attn, value, ('attn', 'value'), op)
    return kernel, dil
