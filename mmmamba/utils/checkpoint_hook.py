"""``SafeCheckpointHook``: mmengine's ``CheckpointHook`` without the ways a
kill loses checkpoints.

mmengine 0.10 writes a checkpoint straight to its final name, so a kill
during the write leaves a damaged file there, and with ``max_keep_ckpts``
it deletes the oldest checkpoint *before* writing the new one, so with
``max_keep_ckpts=1`` a kill at that moment leaves none. This hook writes each
checkpoint (periodic and best) to a temporary name in the same directory,
flushes and renames it into place (:func:`.checkpoint_files.write_atomically`),
and removes older checkpoints only once the new one is complete. Everything
else (intervals, ``max_keep_ckpts``, ``save_best``, the ``last_checkpoint``
file, resume) is mmengine's.

Our configs use it by default (``type='mmmamba.utils.SafeCheckpointHook'``,
which any mmengine tool resolves by importing it); after
``import mmmamba.utils`` it is also registered as ``SafeCheckpointHook``.
Remote ``out_dir`` back-ends (``s3://`` ...) get mmengine's behaviour.
"""
import os.path as osp
from contextlib import contextmanager

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from .checkpoint_files import (checkpoints_newest_first,
                               remove_partial_writes, write_atomically)

__all__ = ['SafeCheckpointHook']


class _DeferredRemoval:
    """A file back-end whose ``remove`` / ``rmtree`` wait for :meth:`apply`
    (everything else is the wrapped back-end's)."""

    def __init__(self, backend):
        self._backend = backend
        self.pending = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def remove(self, path):
        self.pending.append(path)

    def rmtree(self, path):
        self.pending.append(path)

    def apply(self, keep=()):
        """Remove the pending paths, except those in ``keep``."""
        for path in self.pending:
            if path in keep:
                continue  # rewritten under the same name meanwhile
            if self._backend.isfile(path):
                self._backend.remove(path)
            elif self._backend.isdir(path):
                self._backend.rmtree(path)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints are complete or absent, and whose
    old checkpoints go only after the new one is written. Takes
    ``CheckpointHook``'s arguments."""

    def before_train(self, runner):
        super().before_train(runner)
        if is_main_process() and self._local():
            for name in remove_partial_writes(self.out_dir):
                print_log(f'removed {name}, a checkpoint write that did not '
                          f'finish', logger='current')

    def _local(self):
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def _save_checkpoint(self, runner):
        with self._safe_writes(runner):
            super()._save_checkpoint(runner)

    def _save_best_checkpoint(self, runner, metrics):
        with self._safe_writes(runner):
            super()._save_best_checkpoint(runner, metrics)

    @contextmanager
    def _safe_writes(self, runner):
        """Within: this runner's checkpoints are written atomically and this
        hook's removals deferred; on success, the removals happen."""
        if not (self._local() and is_main_process()):
            yield  # other ranks write nothing (mmengine's master_only)
            return
        backend, written = self.file_backend, []
        save = type(runner).save_checkpoint

        def save_checkpoint(out_dir, filename, *args, **kwargs):
            path = backend.join_path(out_dir, filename)
            write_atomically(path, lambda tmp: save(
                runner, osp.dirname(tmp), osp.basename(tmp), *args,
                **kwargs))
            written.append(path)

        self.file_backend = deferred = _DeferredRemoval(backend)
        # an attribute of this runner only, for the duration of one save
        runner.save_checkpoint = save_checkpoint
        try:
            yield
        finally:
            del runner.save_checkpoint
            self.file_backend = backend
        deferred.apply(keep=written)
        if written and self.max_keep_ckpts > 0:
            self._remove_beyond_max_keep(written)

    def _remove_beyond_max_keep(self, written):
        """Remove the complete checkpoints of this kind beyond the newest
        ``max_keep_ckpts``, earlier runs' included: a kill between a write
        and the removal it allows leaves one older file, which goes here at
        the next save instead of staying for good."""
        prefix = 'epoch_' if self.by_epoch else 'iter_'
        ours = [path for path in checkpoints_newest_first(self.out_dir)
                if osp.basename(path).startswith(prefix)]
        for path in ours[self.max_keep_ckpts:]:
            if path not in written:
                self.file_backend.remove(path)
