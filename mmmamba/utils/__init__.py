"""Runtime helpers for the tools and downstream configs (no models here).

Importing this module registers the ``mmmamba::`` config prefix and the
CPU runtime classes (``CPUAmpOptimWrapper``, ``CPUDistributedDataParallel``)
in mmengine's root registries.
"""
from .config_scope import config_root, register_config_scope, resolve_config
from .resume import (allow_mmengine_checkpoint_globals,
                     mmengine_checkpoint_globals,
                     write_history_buffers_without_functions)
from .runtime import (CPUAmpOptimWrapper, CPUDistributedDataParallel,
                      adapt_cfg_to_device, enable_amp, init_cpu_distributed,
                      sync_bn_to_bn)

__all__ = ['config_root', 'register_config_scope', 'resolve_config',
           'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals',
           'CPUAmpOptimWrapper', 'CPUDistributedDataParallel',
           'adapt_cfg_to_device', 'enable_amp', 'init_cpu_distributed',
           'sync_bn_to_bn', 'write_history_buffers_without_functions',
           'setup']


def setup():
    """Everything the tools need before parsing a config (idempotent)."""
    register_config_scope()
    allow_mmengine_checkpoint_globals()
    write_history_buffers_without_functions()
