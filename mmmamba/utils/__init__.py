"""Runtime helpers for our tools (no models here); ``import mmmamba`` does
not import this module.

Importing it registers the CPU runtime classes (``CPUAmpOptimWrapper``,
``CPUDistributedDataParallel``) and ``SafeCheckpointHook`` in mmengine's
root registries under their own names. The patches of mmengine that the
tools need are applied by :func:`setup` only, which the tools call.
"""
from .checkpoint_files import ResumeError, find_resumable, write_atomically
from .checkpoint_hook import SafeCheckpointHook
from .config_scope import config_root, register_config_scope, resolve_config
from .resume import (allow_mmengine_checkpoint_globals,
                     mmengine_checkpoint_globals,
                     write_history_buffers_without_functions)
from .runtime import (CPUAmpOptimWrapper, CPUDistributedDataParallel,
                      adapt_cfg_to_device, enable_amp, init_cpu_distributed,
                      sync_bn_to_bn)

__all__ = ['ResumeError', 'find_resumable', 'write_atomically',
           'SafeCheckpointHook', 'config_root', 'register_config_scope',
           'resolve_config',
           'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals',
           'CPUAmpOptimWrapper', 'CPUDistributedDataParallel',
           'adapt_cfg_to_device', 'enable_amp', 'init_cpu_distributed',
           'sync_bn_to_bn', 'write_history_buffers_without_functions',
           'setup']


def setup():
    """What our tools need before parsing a config (idempotent).

    - the ``mmmamba::`` prefix (for a checkout used without installing it,
      where the import hook of :mod:`mmmamba_config_hook` is absent);
    - resume with weights-only loading kept on: mmengine's checkpoint data
      classes allow-listed, and the checkpoints we write made loadable that
      way (``HistoryBuffer`` without its class-level function table); see
      :mod:`.resume`.
    """
    register_config_scope()
    allow_mmengine_checkpoint_globals()
    write_history_buffers_without_functions()
