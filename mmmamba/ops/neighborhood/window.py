"""The NATTEN (<= 0.17) window rule of 2-D neighborhood attention, in Python.

Python's one copy of the rule: the argument checks of ``na2d_qk``,
``na2d_av`` and ``a2ssm_aggregate`` (:mod:`.checks`, run before any
backend) and the reference's neighbour tables come from here, so the rule
cannot drift between the ops. The same rule is written once in C++
(``csrc/common/math.h``: ``na_window_start``, ``na_neighbor``,
``na_rpb_index`` and the inverse ``na_slot_of``, shared by the CPU and CUDA
kernels) and once in Triton (:mod:`mmmamba.ops.triton.window`:
``window_start`` and the inverse ``inverse_window``); the three change
together (docs/design.md § Neighborhood attention).

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
