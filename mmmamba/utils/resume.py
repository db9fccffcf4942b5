"""Resume mmengine checkpoints with torch's weights-only loading kept on.

torch >= 2.6 loads with ``weights_only=True``. An mmengine checkpoint
(``epoch_N.pth`` / ``iter_N.pth``) also pickles the message hub: its
``HistoryBuffer`` objects hold numpy arrays, and the runtime info holds numpy
scalars. Those data classes are allow-listed here, and nothing else.

Stock ``HistoryBuffer.__getstate__`` also pickles the class-wide table of
statistics functions (``min``/``max``/``mean``/``current``), which pickle
writes as ``getattr(HistoryBuffer, 'min')``: loading that would need
``builtins.getattr`` on the allow-list. Instead of allowing ``getattr``,
``write_history_buffers_without_functions`` makes the checkpoints we write
leave that table out: it is class-level state that ``__setstate__`` rebuilds
(defaults) and that custom statistics re-register on import anyway.
Checkpoints written by a stock mmengine process still contain ``getattr``
and are refused by the weights-only loader (torch's message says how to load
a trusted file).
"""
import numpy as np
import torch

__all__ = ['mmengine_checkpoint_globals', 'allow_mmengine_checkpoint_globals',
           'write_history_buffers_without_functions']


def mmengine_checkpoint_globals():
    """The (data-only) classes and reconstructors mmengine checkpoints use."""
    from mmengine.logging.history_buffer import HistoryBuffer
    core = getattr(np, '_core', None) or np.core
    dtype_classes = {type(np.dtype(t)) for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
        np.int64, np.uint8, np.bool_)}
    return [HistoryBuffer, core.multiarray._reconstruct,
            core.multiarray.scalar, np.ndarray, np.dtype,
            *sorted(dtype_classes, key=lambda c: c.__name__)]


def _history_buffer_getstate(self):
    """Like mmengine's, without the class-level statistics functions (and
    without mutating ``self.__dict__``)."""
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def write_history_buffers_without_functions():
    """Patch ``HistoryBuffer.__getstate__`` (idempotent)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate


def allow_mmengine_checkpoint_globals():
    """Add the mmengine checkpoint classes to torch's weights-only allow-list.

    Idempotent. ``weights_only`` stays on: only these data classes are
    added, never ``getattr`` or other callables.
    """
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
