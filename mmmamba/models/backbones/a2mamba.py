"""A2Mamba backbone for dense prediction.

A2Mamba: Attention-augmented State Space Models for Visual Recognition
(Lou, Fu, Yu, arXiv 2507.16624). This re-implements the authors' released
classification model without its classifier head, so the released ImageNet
checkpoints (``a2mamba_{nano,tiny,small,base,large}.pth``) load into it and
give the same features; see ``mmmamba/models/utils/ckpt_convert.py``.
"""
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from mmmamba.registry import register_model
from ..layers import (A2MambaStage, build_downsample, build_stem,
                      init_conv_trunc_normal)
from ..utils import load_backbone_weights
from ..utils.init_cfg import PRETRAINED_KEYS, split_init_cfg
from ..utils.memory_format import contiguous_output


def _arch(dims, depths, heads, mlp_ratios, kernel_sizes=(11, 9, 7, 7),
          layer_scale=(None, ) * 4, res_scale=(None, ) * 4):
    return dict(embed_dims=dims, depths=depths, num_heads=heads,
                kernel_sizes=kernel_sizes, mlp_ratios=mlp_ratios,
                layer_scale=layer_scale, res_scale=res_scale)


@register_model
class A2Mamba(BaseModule):
    """A2Mamba backbone returning the four stage outputs (strides 4-32).

    Args:
        arch (str | dict): one of ``A2Mamba.arch_settings`` (``'nano'``,
            ``'tiny'``, ``'small'``, ``'base'``, ``'large'``, and ``'test'``,
            a tiny width for quick tests) or a dict with the same keys.
        in_channels (int): input channels (>= 1).
        out_indices (Sequence[int]): stages (0-3) whose outputs are returned,
            strictly increasing.
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and
            stages 1..k with their downsamples. Frozen parts stay in eval
            mode and without gradients after ``train()``.
        norm_eval (bool): keep BatchNorm layers in eval mode while training.
        with_cp (bool): gradient checkpointing of every block.
        drop_path_rate (float): stochastic depth, rising linearly over all
            blocks.
        norm_cfg (dict): BatchNorm of the stem, downsamples and gates (e.g.
            ``dict(type='SyncBN')`` for distributed training).
        init_cfg (dict | list[dict], optional):
            ``dict(type='Pretrained', checkpoint=PATH or URL)`` (alone or as
            one entry of a list) loads a released or mmmamba checkpoint
            strictly (optional ``prefix`` and ``state_dict_key``; http(s)
            URLs are downloaded once); other init configs are applied by
            mmengine first.
    """

    arch_settings = {
        'test': _arch((16, 32, 64, 64), (1, 1, 1, 1), (2, 2, 4, 4),
                      (2, 2, 2, 2)),
        'nano': _arch((32, 64, 128, 192), (2, 2, 8, 2), (2, 2, 4, 8),
                      (4, 4, 3, 3)),
        'tiny': _arch((48, 96, 256, 448), (2, 2, 10, 2), (2, 4, 8, 16),
                      (4, 4, 3, 3)),
        'small': _arch((64, 128, 320, 512), (2, 4, 12, 4), (2, 4, 10, 16),
                       (4, 4, 3, 3), res_scale=(None, None, 1.0, 1.0)),
        'base': _arch((96, 192, 384, 512), (4, 6, 12, 6), (4, 8, 12, 16),
                      (4, 4, 3.75, 3.75), layer_scale=(1.0, 1.0, 1e-6, 1e-6)),
        'large': _arch((96, 192, 448, 672), (4, 6, 18, 6), (4, 8, 16, 24),
                       (4, 4, 4, 4), layer_scale=(1.0, 1.0, 1e-6, 1e-6)),
    }
    num_stages = 4

    def __init__(self, arch='tiny', in_channels=3, out_indices=(0, 1, 2, 3),
                 frozen_stages=-1, norm_eval=False, with_cp=False,
                 drop_path_rate=0., norm_cfg=dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.arch_name, settings = self._resolve_arch(arch)
        self.out_indices = self._check_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, '
                             f'{self.num_stages}], got {frozen_stages}')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got '
                             f'{drop_path_rate}')
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels must be an integer >= 1 (3 for '
                             f'RGB images), got {in_channels!r}')
        self.in_channels = in_channels
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        dims = settings['embed_dims']
        self.embed_dims = tuple(dims)

        self.stem = build_stem(in_channels, dims[0], norm_cfg)
        self.downsamples = nn.ModuleList(
            build_downsample(dims[i], dims[i + 1], norm_cfg)
            for i in range(self.num_stages - 1))
        total = sum(settings['depths'])
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        for i, depth in enumerate(settings['depths']):
            first = sum(settings['depths'][:i])
            self.stages.append(A2MambaStage(
                dims[i], settings['num_heads'][i], depth,
                drop_paths=rates[first:first + depth], with_cp=with_cp,
                kernel_size=settings['kernel_sizes'][i],
                mlp_ratio=settings['mlp_ratios'][i],
                global_attn=i == self.num_stages - 1,
                layer_scale=settings['layer_scale'][i],
                res_scale=settings['res_scale'][i], norm_cfg=norm_cfg))
        self.apply(init_conv_trunc_normal)
        self._freeze_stages()

    @classmethod
    def _resolve_arch(cls, arch):
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(f'unknown A2Mamba arch {arch!r}; valid '
                                 f'choices: {sorted(cls.arch_settings)}')
            return arch, cls.arch_settings[arch]
        if isinstance(arch, dict):
            required = set(cls.arch_settings['tiny'])
            missing = required - set(arch)
            if missing:
                raise ValueError(f'a custom arch dict needs the keys '
                                 f'{sorted(required)}; missing '
                                 f'{sorted(missing)}')
            return 'custom', arch
        raise TypeError(f'arch must be a name from '
                        f'{sorted(cls.arch_settings)} or a dict, got '
                        f'{type(arch).__name__}')

    def _check_out_indices(self, out_indices):
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        out_indices = tuple(out_indices)
        if not out_indices or any(
                i not in range(self.num_stages) for i in out_indices) or any(
                    a >= b for a, b in zip(out_indices, out_indices[1:])):
            raise ValueError(
                f'out_indices must be a non-empty, strictly increasing '
                f'subset of {tuple(range(self.num_stages))} (the outputs '
                f'come in stage order), got {out_indices}')
        return out_indices

    def init_weights(self):
        """Apply ``init_cfg``: non-pretrained entries through mmengine, then
        the ``Pretrained`` entry (a dict, or one entry of a list) through the
        strict loader, which loads every tensor or fails."""
        pretrained, others = split_init_cfg(self.init_cfg)
        if len(pretrained) > 1:
            raise ValueError(f'init_cfg holds {len(pretrained)} Pretrained '
                             f'entries; give the backbone one checkpoint')
        if others or not pretrained:
            init_cfg, self.init_cfg = self.init_cfg, others or None
            try:
                super().init_weights()
            finally:
                self.init_cfg = init_cfg
        if pretrained:
            cfg = pretrained[0]
            unknown = sorted(set(cfg) - set(PRETRAINED_KEYS))
            if unknown or 'checkpoint' not in cfg:
                raise ValueError(
                    f"init_cfg=dict(type='Pretrained', ...) takes "
                    f'checkpoint (required), prefix and state_dict_key; got '
                    f'{dict(cfg)}' + (f' (unknown: {unknown})' if unknown
                                      else ''))
            load_backbone_weights(self, cfg['checkpoint'],
                                  prefix=cfg.get('prefix'),
                                  state_dict_key=cfg.get('state_dict_key'))
            self._is_init = True

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.stem
        for i in range(self.frozen_stages):
            if i > 0:
                yield self.downsamples[i - 1]
            yield self.stages[i]

    def _freeze_stages(self):
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def _check_input(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f'A2Mamba expects a B×C×H×W batch, got shape '
                             f'{tuple(getattr(x, "shape", ()))}')
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f'A2Mamba was built for {self.in_channels}-channel images '
                f'(in_channels={self.in_channels}), got {x.shape[1]} '
                f'channels; convert the images (e.g. gray to RGB) or set '
                f'in_channels')
        weight = self.stem[0].weight
        if not x.is_floating_point():
            raise TypeError(
                f'A2Mamba expects floating-point images (normalised, as the '
                f'data preprocessor makes them), got {x.dtype}; convert with '
                f'x.to({weight.dtype})')
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(
                x.device.type):
            raise TypeError(
                f'the input is {x.dtype} but the backbone weights are '
                f'{weight.dtype}; cast the input (x.to({weight.dtype})) or '
                f'run under torch.autocast')
        if min(x.shape[2:]) < 32:
            raise ValueError(f'A2Mamba needs inputs of at least 32×32 px '
                             f'(stride 32), got {tuple(x.shape[2:])}; resize '
                             f'or pad the image')

    def forward(self, x):
        """x: B×C×H×W with H, W ≥ 32 → tuple of B×C_i×H/2^(i+2)×W/2^(i+2)."""
        self._check_input(x)
        # channels-last inside: the 1×1 and depthwise convolutions run on
        # NHWC without reorders and LayerNorm2d normalises contiguous rows;
        # the outputs are plain contiguous NCHW again
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        outs = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsamples[i - 1](x)
            x = stage(x)
            if i in self.out_indices:
                outs.append(contiguous_output(x))
        return tuple(outs)
