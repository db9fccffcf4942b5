"""Make stock mmdet/mmseg runs work on a CPU-only machine.

mmengine assumes CUDA in three places that matter here:

* ``AmpOptimWrapper`` refuses to be built without a GPU, so ``--amp`` gets
  ``CPUAmpOptimWrapper``: bf16 autocast on CPU, no loss scaling (bf16 has
  fp32's exponent range, so nothing underflows to be rescued).
* a ``pytorch`` launcher calls ``torch.cuda.set_device`` before
  ``init_process_group``, and the default model wrapper passes
  ``device_ids=[LOCAL_RANK]``, which DDP rejects for a CPU module. On CPU the
  tools initialise the ``gloo`` process group themselves
  (``init_cpu_distributed``) and wrap with ``CPUDistributedDataParallel``.
* ``SyncBN`` (used by the stock seg heads and our configs) only runs on
  CUDA tensors once a process group exists; ``adapt_cfg_to_device``
  rewrites it to ``BN`` when no GPU is present (statistics are then per
  process, as with any BN).
"""
import os
from contextlib import contextmanager

import torch
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import MODEL_WRAPPERS, OPTIM_WRAPPERS

__all__ = ['CPUAmpOptimWrapper', 'CPUDistributedDataParallel',
           'adapt_cfg_to_device', 'enable_amp', 'init_cpu_distributed',
           'sync_bn_to_bn']


def _roi_align_fp32(forward):
    def roi_align_forward(self, input, rois):
        if input.device.type != 'cpu' or input.dtype == torch.float32 \
                or not torch.is_autocast_enabled('cpu'):
            return forward(self, input, rois)
        with torch.autocast(device_type='cpu', enabled=False):
            out = forward(self, input.float(), rois.float())
        return out.to(input.dtype)  # differentiable: backward runs in fp32

    roi_align_forward._mmmamba_fp32 = True
    return roi_align_forward


def run_mmcv_ops_in_fp32():
    """Run mmcv's NMS and RoIAlign in fp32 under CPU autocast.

    Their CPU kernels have no bf16 version (mmdet relies on CUDA half
    kernels). NMS gets ``torch.amp.custom_fwd(cast_inputs=float32)`` (it
    returns indices); RoIAlign computes in fp32 and returns the input's dtype
    so the RoI extractor's buffers match. Calls outside CPU autocast are
    unchanged. Idempotent.
    """
    try:
        from mmcv.ops.nms import NMSop
        from mmcv.ops.roi_align import RoIAlign
    except ImportError:  # pragma: no cover - mmcv without ops
        return
    if not getattr(NMSop.forward, '_mmmamba_fp32', False):
        wrapped = torch.amp.custom_fwd(
            NMSop.forward, device_type='cpu', cast_inputs=torch.float32)
        wrapped._mmmamba_fp32 = True
        NMSop.forward = staticmethod(wrapped)
    if not getattr(RoIAlign.forward, '_mmmamba_fp32', False):
        RoIAlign.forward = _roi_align_fp32(RoIAlign.forward)


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """OptimWrapper running forward passes under CPU autocast (bf16).

    mmcv's NMS and RoIAlign run in fp32 inside it (no bf16 CPU kernels).

    Args:
        dtype (str | torch.dtype): autocast dtype. Defaults to bfloat16
            (fp16 on CPU would need loss scaling, which this does not do).
    """

    def __init__(self, dtype='bfloat16', **kwargs):
        super().__init__(**kwargs)
        # patches mmcv (NMS / RoIAlign have no bf16 CPU kernels): only when
        # this wrapper is built, i.e. by tools/train.py --amp on a CPU
        run_mmcv_ops_in_fp32()
        self.cast_dtype = getattr(torch, dtype) if isinstance(dtype, str) \
            else dtype

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """MMDistributedDataParallel that drops ``device_ids`` for CPU modules."""

    def __init__(self, module, device_ids=None, **kwargs):
        if all(p.device.type == 'cpu' for p in module.parameters()):
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def sync_bn_to_bn(node):
    """Recursively replace ``type='SyncBN'`` by ``'BN'``; returns the count."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += sync_bn_to_bn(value)
    return count


def enable_amp(cfg):
    """Switch ``cfg.optim_wrapper`` to mixed precision for this device."""
    wrapper = cfg.optim_wrapper
    if torch.cuda.is_available():
        if wrapper.get('type') == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.',
                      logger='current')
            return
        wrapper.type = 'AmpOptimWrapper'
        wrapper.loss_scale = 'dynamic'
    else:
        # AmpOptimWrapper requires CUDA; its loss scaling options do not
        # apply to bf16 and are dropped.
        for key in ('loss_scale', 'use_fsdp'):
            wrapper.pop(key, None)
        dtype = wrapper.get('dtype') or 'bfloat16'
        wrapper.type = 'CPUAmpOptimWrapper'
        wrapper.dtype = 'bfloat16' if dtype in ('float16', torch.float16) \
            else dtype


def adapt_cfg_to_device(cfg):
    """CPU-only: SyncBN → BN, gloo backend, CPU-capable DDP wrapper."""
    if torch.cuda.is_available():
        return
    replaced = sync_bn_to_bn(cfg._cfg_dict if hasattr(cfg, '_cfg_dict')
                             else cfg)
    if replaced:
        print_log(f'no CUDA device: {replaced} SyncBN layer configs use BN '
                  f'instead', logger='current')
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    env_cfg['cudnn_benchmark'] = False
    if cfg.get('launcher', 'none') != 'none':
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel')
        if wrapper.get('type') == 'MMDistributedDataParallel':
            wrapper['type'] = 'CPUDistributedDataParallel'
        cfg.model_wrapper_cfg = wrapper


def init_cpu_distributed(launcher, backend='gloo'):
    """Initialise the process group for a CPU run started by torchrun.

    mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` first;
    with the group already initialised the Runner skips that step.
    """
    import torch.distributed as dist
    if launcher != 'pytorch' or torch.cuda.is_available() \
            or dist.is_initialized():
        return False
    dist.init_process_group(backend=backend)
    return True
