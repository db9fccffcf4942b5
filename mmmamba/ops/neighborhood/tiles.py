"""Column tiles of the exported neighborhood attention: constant tables,
built outside any trace, from :func:`.window.axis_tables` (the one copy of
the window rule).

An axis of ``n`` positions is cut into tiles of ``Tw`` query slots, each a
run of consecutive members of one dilation group (the last run of a group is
padded by repeating its last query). The keys a tile's queries see form one
contiguous run of that group (border windows shift inward, so they stay in
the run), its *halo*: at most ``Tw + K - 1`` positions, padded to a common
length ``Tk`` by repeating the last one. Attention over a tile is then a
``Tw × Tk`` matrix product, ``Tk / K`` times the work of the window, instead
of the ``n / K`` times of a product over the whole axis. Where ``Tk`` is
close to ``K`` (dilated axes, small maps) the attention can stay in halo
form: one weight per halo place, 0 off the window (:mod:`.onnx`).
"""
import contextlib
import functools
from typing import NamedTuple

import numpy as np
import torch

from .window import axis_tables

# Query slots per tile tried; the choice minimises the slots × halo product
TILE_SIZES = range(8, 17)


class ColumnTiles(NamedTuple):
    """The tables of one axis (int64 numpy arrays).

    Attributes:
        slots: ``nT·Tw``: the query position of each slot.
        halo: ``nT·Tk``: the key position of each halo place.
        place: ``nT × Tw × K``: where in its tile's halo the ``k``-th
            neighbour of slot ``(t, a)`` lies (its first occurrence).
        slot_of: ``n``: the first slot of each query position.
        halo_bias: ``nT × Tw × Tk``: the relative-position-bias index
            (into the ``2K - 1`` axis) of each halo place seen from slot
            ``(t, a)``; 0 where the place is off the slot's window.
        in_window: ``nT × Tw × Tk`` bool: the place is the slot's neighbour
            (its first occurrence in the halo).
    """
    slots: np.ndarray
    halo: np.ndarray
    place: np.ndarray
    slot_of: np.ndarray
    halo_bias: np.ndarray
    in_window: np.ndarray

    @property
    def shape(self):
        """``(nT, Tw, Tk)``."""
        tiles, size, _ = self.place.shape
        return tiles, size, len(self.halo) // tiles


@contextlib.contextmanager
def _untraced():
    """Run torch ops as plain computations inside a trace (the tables enter
    the exported graph as constants, not as the ops that built them)."""
    state = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)


def _runs(n, dilation, size):
    """Runs of at most ``size`` consecutive members of each dilation
    group."""
    runs = []
    for group in range(dilation):
        members = list(range(group, n, dilation))
        runs += [members[i:i + size] for i in range(0, len(members), size)]
    return runs


def _layout(neighbour, n, dilation, size):
    """``(query runs, halo runs)`` of tiles of ``size`` slots."""
    runs = _runs(n, dilation, size)
    halos = [sorted(set(neighbour[run].reshape(-1).tolist())) for run in runs]
    return runs, halos


@functools.lru_cache(maxsize=256)
def column_tiles(n, kernel, dilation):
    """:class:`ColumnTiles` of an axis of ``n`` positions (arguments as for
    :func:`.window.axis_tables`, already checked)."""
    with _untraced():
        neighbour, bias = (t.numpy() for t in axis_tables(
            n, kernel, dilation, torch.device('cpu')))  # each n, K
    longest = -(-n // dilation)  # members of the largest group

    def cost(size):
        runs, halos = _layout(neighbour, n, dilation, size)
        return len(runs) * size * max(map(len, halos))

    size = min(sorted({min(s, longest) for s in TILE_SIZES}), key=cost)
    runs, halos = _layout(neighbour, n, dilation, size)
    width = max(map(len, halos))
    slots = np.array([run + run[-1:] * (size - len(run)) for run in runs])
    halo = np.array([h + h[-1:] * (width - len(h)) for h in halos])
    place = np.stack([np.searchsorted(h, neighbour[s])
                      for s, h in zip(slots, halo)])  # nT, Tw, K
    slot_of = np.full(n, -1)
    for index, position in enumerate(slots.reshape(-1)):
        if slot_of[position] < 0:
            slot_of[position] = index
    halo_bias = np.zeros((len(runs), size, width), np.int64)
    in_window = np.zeros((len(runs), size, width), bool)
    tile, slot = np.indices(place.shape[:2])  # nT, Tw
    halo_bias[tile[..., None], slot[..., None], place] = bias[slots]
    in_window[tile[..., None], slot[..., None], place] = True
    return ColumnTiles(slots.reshape(-1), halo.reshape(-1), place, slot_of,
                       halo_bias, in_window)
