"""The NATTEN (<= 0.17) window rule and its inverse, as Triton functions.

An axis of length ``n`` with odd kernel ``K`` and dilation ``dil`` splits
into ``dil`` interleaved groups (``i mod dil``); the query at index
``j = i // dil`` of its group of ``m`` members sees the ``K`` consecutive
members starting at ``s = clamp(j - K // 2, 0, m - K)``.

Inverse: ``s`` is non-decreasing in ``j``, so the queries that see a key at
group index ``jp`` form one run of the key's group: from ``0`` if
``jp < K`` else ``jp - K // 2``, up to ``m`` (exclusive) if ``jp >= m - K``
else ``jp + K // 2 + 1``. A run is ``K`` long inside the map and at most
``2K - 1`` long at the border (small groups).

The same rule is written twice more and must change with this file: in
Python in ``mmmamba/ops/neighborhood/window.py`` (``axis_tables``, the
reference's neighbour and bias tables; no inverse, the reference's backward
is autograd) and in C++ in ``csrc/common/math.h`` (``na_window_start``,
``na_neighbor``, ``na_rpb_index`` and the inverse ``na_slot_of``, shared by
the CPU and CUDA kernels); see docs/design.md § Neighborhood attention.
"""
import triton
import triton.language as tl


@triton.jit
def group_members(i, n, dil):
    """Members of position ``i``'s dilation group on an axis of length n."""
    return (n - i % dil + dil - 1) // dil


@triton.jit
def window_start(i, n, K: tl.constexpr, dil):
    """Group index of the first neighbour of position ``i``."""
    start = tl.maximum(i // dil - K // 2, 0)
    return tl.minimum(start, group_members(i, n, dil) - K)


@triton.jit
def inverse_window(p, n, K: tl.constexpr, dil):
    """Queries that see key ``p``: ``(first group index, count)``."""
    jp = p // dil
    members = group_members(p, n, dil)
    first = tl.where(jp < K, 0, jp - K // 2)
    end = tl.where(jp >= members - K, members, jp + K // 2 + 1)
    return first, end - first
