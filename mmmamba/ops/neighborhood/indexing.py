"""Argument checks and window index math for 2-D neighborhood attention.

The Python home of the NATTEN (<= 0.17) window rule. Every backend's
arguments are validated here (the dispatch runs these checks before any
kernel), and the reference builds its neighbour tables here, so the rule
cannot drift between ``na2d_qk`` and ``na2d_av``. The same rule is written
twice more and must change with this file: in C++ in ``csrc/mmmamba_math.h``
(``na_window_start``, ``na_neighbor``, ``na_rpb_index`` and the inverse
``na_slot_of``, shared by the CPU and CUDA kernels) and in Triton in
``mmmamba/ops/kernels/triton/window.py`` (``window_start`` and the inverse
``inverse_window``); see docs/design.md § Neighborhood attention.

Window rule, per axis of length ``n`` with odd kernel ``K`` and dilation ``δ``:
positions split into ``δ`` interleaved groups (``i mod δ``); a group holding
``m`` positions gives its member at group index ``j`` the ``K`` consecutive
members starting at ``s = clamp(j - K//2, 0, m - K)``. Windows shift at the
border instead of padding, so every query has exactly ``K`` neighbours, which
requires ``m >= K`` for the smallest group, i.e. ``n // δ >= K``, i.e.
``n >= K * δ``. In 2-D the window is the product of the row and column
windows, neighbours flattened row-major ``(ki, kj)``. The relative position
bias of a neighbour at group offset ``(Δr, Δc)`` is
``rpb[head, Kh - 1 + Δr, Kw - 1 + Δc]``.
"""
import functools
import operator

import torch


def as_pair(value, name, op):
    """``int`` or ``(h, w)`` → ``(h, w)`` Python ints; ValueError otherwise."""
    pair_like = isinstance(value, (tuple, list))
    items = tuple(value) if pair_like else (value, value)
    if len(items) != 2:
        raise ValueError(f'{op}: {name} must be an int or an (h, w) pair, '
                         f'got {value!r}.')
    pair = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f'{op}: {name} must be an int or an (h, w) pair '
                             f'of ints, got {value!r}.')
        try:
            pair.append(operator.index(item))
        except TypeError:
            raise ValueError(f'{op}: {name} must be an int or an (h, w) pair '
                             f'of ints, got {value!r}.') from None
    return tuple(pair)


def check_window(kernel_size, dilation, op):
    """Normalise and check ``kernel_size``, ``dilation`` → two (h, w) pairs."""
    kernel = as_pair(kernel_size, 'kernel_size', op)
    dil = as_pair(dilation, 'dilation', op)
    for k in kernel:
        if k < 1:
            raise ValueError(f'{op}: kernel_size must be >= 1, got '
                             f'{kernel_size!r}.')
        if k % 2 == 0:
            raise ValueError(f'{op}: kernel_size must be odd (the window is '
                             f'centred on the query), got {kernel_size!r}; '
                             f'use {k - 1} or {k + 1}.')
    for d in dil:
        if d < 1:
            raise ValueError(f'{op}: dilation must be >= 1, got '
                             f'{dilation!r}.')
    return kernel, dil


def check_map_size(height, width, kernel, dil, op):
    """Each dilation group must hold a full window: ``n >= K * δ`` per axis."""
    for axis, n, k, d in (('height', height, kernel[0], dil[0]),
                          ('width', width, kernel[1], dil[1])):
        if n < k * d:
            raise ValueError(
                f'{op}: feature map {axis} {n} is smaller than the window: '
                f'kernel_size {k} with dilation {d} needs {axis} >= '
                f'kernel_size * dilation = {k * d} (every one of the {d} '
                f'dilation groups must hold {k} positions). Pad the input '
                f'to at least {k * d}, or use a smaller kernel_size/dilation.')


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


def check_av_args(attn, value, kernel_size, dilation):
    """All argument checks of ``na2d_av`` (every backend) → (kernel, dil)."""
    op = 'na2d_av'
    check_5d(attn, 'attn', '(B, heads, H, W, Kh*Kw)', op)
    check_5d(value, 'value', '(B, heads, H, W, dim)', op)
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


@functools.lru_cache(maxsize=512)
def axis_tables(n, kernel, dilation, device):
    """Per-axis window tables for an axis of length ``n``.

    Returns ``(neighbour, bias)``, both ``n × kernel`` long tensors on
    ``device``: ``neighbour[i, k]`` is the absolute position of query ``i``'s
    ``k``-th neighbour, ``bias[i, k]`` its index into the ``2K - 1`` axis of
    the relative position bias (``K - 1 +`` group offset). Assumes the
    arguments have passed :func:`check_map_size`. Cached: the tables are
    tiny and the same few sizes recur every forward.
    """
    i = torch.arange(n)
    residue, j = i % dilation, i // dilation  # group, index in the group
    members = (n - residue + dilation - 1) // dilation  # m of i's group
    start = (j - kernel // 2).clamp(min=0)
    start = torch.minimum(start, members - kernel)  # shift at the far border
    group_idx = start[:, None] + torch.arange(kernel)  # n, K (group indices)
    neighbour = residue[:, None] + group_idx * dilation  # n, K (absolute)
    bias = kernel - 1 + group_idx - j[:, None]  # n, K, in [0, 2K-2]
    return neighbour.to(device), bias.to(device)


def window_tables_2d(rows, width, kernel, dil, height, device):
    """Flattened 2-D tables for the queries in ``rows`` (a ``range``).

    Returns ``(neighbour, bias)``, both ``(len(rows) * width) × (Kh * Kw)``:
    ``neighbour`` indexes the row-major ``H * W`` key axis, ``bias`` the
    row-major ``(2Kh - 1) * (2Kw - 1)`` flattened rpb; neighbours are ordered
    row-major ``(ki, kj)``.
    """
    nh, bh = axis_tables(height, kernel[0], dil[0], device)
    nw, bw = axis_tables(width, kernel[1], dil[1], device)
    nh, bh = nh[rows.start:rows.stop], bh[rows.start:rows.stop]
    # rows, W, Kh, Kw: (row neighbour, col neighbour) -> flat index
    neighbour = nh[:, None, :, None] * width + nw[None, :, None, :]
    bias = bh[:, None, :, None] * (2 * kernel[1] - 1) + bw[None, :, None, :]
    count = len(rows) * width
    return neighbour.reshape(count, -1), bias.reshape(count, -1)
