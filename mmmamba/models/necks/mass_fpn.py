"""MASSFPN: an FPN whose fused levels are refined by A2Mamba blocks.

The A2Mamba paper (arXiv 2507.16624) mentions a progressive multi-scale
refinement decoder but publishes no details, so this neck is mmmamba's own
design (docs/design.md § MASSFPN): mmdet's FPN (lateral 1×1 convs,
nearest top-down sum, extra levels) with each fused level refined by MASS
blocks (the A2Mamba block with the A2SSM mixer on every level) instead of
FPN's 3×3 output conv, so the attention-augmented refinement happens where
the scales meet. It takes FPN's constructor arguments, so configs swap
``FPN`` ↔ ``MASSFPN``. No released weights exist for it.
"""
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.model.weight_init import initialize

from mmmamba.registry import register_model
from ..layers import A2MambaStage, init_conv_trunc_normal
from ..utils.init_cfg import split_init_cfg

EXTRA_CONV_SOURCES = ('on_input', 'on_lateral', 'on_output')


@register_model
class MASSFPN(BaseModule):
    """FPN with MASS-block refinement of every fused level (our design).

    Per used backbone level i (``start_level`` .. end): a lateral 1×1
    ``ConvModule`` to ``out_channels``; the top-down pathway adds the
    upsampled coarser level exactly as mmdet's FPN; then ``num_blocks``
    A2Mamba blocks (A2SSM mixer, window ``kernel_sizes[i]``) replace FPN's
    3×3 output conv. Levels beyond ``num_outs`` inputs are built exactly as
    in FPN (extra stride-2 3×3 convs, or max-pooling). Extra levels are not
    refined.

    Args:
        in_channels (list[int]): channels of every input level.
        out_channels (int): channels of every output level.
        num_outs (int): number of output levels.
        start_level (int): first input level used. Defaults to 0.
        end_level (int): last input level used (inclusive); -1 means the
            last one. Extra levels are only allowed when it is the last.
        add_extra_convs (bool | str): False: max-pool extra levels; True or
            ``'on_input'`` / ``'on_lateral'`` / ``'on_output'``: stride-2 3×3
            convs starting from the last used input, lateral or output.
        relu_before_extra_convs (bool): ReLU before the 2nd+ extra convs.
        no_norm_on_lateral (bool): no ``norm_cfg`` on the lateral convs.
        conv_cfg, norm_cfg, act_cfg (dict, optional): of the lateral and
            extra ``ConvModule``s, as in FPN.
        upsample_cfg (dict): ``F.interpolate`` kwargs of the top-down path;
            without ``scale_factor`` the coarser map is resized to the finer
            map's size (so odd sizes work). Defaults to nearest.
        num_blocks (int): MASS blocks per level; 0 leaves the fused sums
            unrefined. Defaults to 1.
        kernel_sizes (Sequence[int]): odd window per input level (indexed
            by the backbone level); levels past its end use the last entry.
            Defaults to the backbone's (11, 9, 7, 7).
        head_dim (int): channels per head; ``out_channels / head_dim`` must
            be an even head count and ``head_dim`` divisible by 4 (2-D RoPE).
            Defaults to 32 (8 heads at 256 channels).
        mlp_ratio (float): FFN width of the blocks. Defaults to 2.
        drop_path_rate (float): stochastic depth; within a level it rises
            linearly to this value at the last block. Defaults to 0.
        with_cp (bool): gradient checkpointing of the blocks.
        block_norm_cfg (dict): norm of the blocks' gates (``dict(type=
            'SyncBN')`` for distributed training).
        init_cfg (dict | list[dict]): applied to the lateral and extra convs
            only (FPN's Xavier by default); the MASS blocks keep the
            backbone's init. A ``Pretrained`` entry loads the whole neck.
    """

    def __init__(self, in_channels, out_channels, num_outs, start_level=0,
                 end_level=-1, add_extra_convs=False,
                 relu_before_extra_convs=False, no_norm_on_lateral=False,
                 conv_cfg=None, norm_cfg=None, act_cfg=None,
                 upsample_cfg=dict(mode='nearest'), num_blocks=1,
                 kernel_sizes=(11, 9, 7, 7), head_dim=32, mlp_ratio=2,
                 drop_path_rate=0., with_cp=False,
                 block_norm_cfg=dict(type='BN'),
                 init_cfg=dict(type='Xavier', layer='Conv2d',
                               distribution='uniform')):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(in_channels, (list, tuple)) or not in_channels:
            raise TypeError(f'in_channels must be a non-empty list of ints '
                            f'(one per input level), got {in_channels!r}')
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.start_level = start_level
        self.end_level = end_level
        self.backbone_end_level = self._check_levels(start_level, end_level,
                                                     num_outs)
        self.add_extra_convs = self._check_extra_convs(add_extra_convs)
        self.relu_before_extra_convs = relu_before_extra_convs
        self.no_norm_on_lateral = no_norm_on_lateral
        self.upsample_cfg = upsample_cfg.copy()
        num_heads = self._check_blocks(num_blocks, kernel_sizes, head_dim,
                                       drop_path_rate)
        self.num_blocks = num_blocks
        self.kernel_sizes = tuple(kernel_sizes)

        levels = range(start_level, self.backbone_end_level)
        self.lateral_convs = nn.ModuleList(
            ConvModule(self.in_channels[i], out_channels, 1,
                       conv_cfg=conv_cfg,
                       norm_cfg=None if no_norm_on_lateral else norm_cfg,
                       act_cfg=act_cfg, inplace=False) for i in levels)
        drop_paths = [drop_path_rate * (j + 1) / max(num_blocks, 1)
                      for j in range(num_blocks)]
        self.refine_stages = nn.ModuleList(
            A2MambaStage(out_channels, num_heads, num_blocks, drop_paths,
                         with_cp=with_cp, kernel_size=self.level_kernel(i),
                         mlp_ratio=mlp_ratio, global_attn=False,
                         norm_cfg=block_norm_cfg) for i in levels)
        # the backbone's init: trunc-normal(0.02) convs, zero bias
        self.refine_stages.apply(init_conv_trunc_normal)

        self.extra_convs = nn.ModuleList()
        extra_levels = num_outs - self.backbone_end_level + start_level
        for i in range(extra_levels if self.add_extra_convs else 0):
            if i == 0 and self.add_extra_convs == 'on_input':
                channels = self.in_channels[self.backbone_end_level - 1]
            else:
                channels = out_channels
            self.extra_convs.append(
                ConvModule(channels, out_channels, 3, stride=2, padding=1,
                           conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                           act_cfg=act_cfg, inplace=False))

    def _check_levels(self, start_level, end_level, num_outs):
        """FPN's level rules; returns the exclusive end of the used inputs."""
        if not 0 <= start_level < self.num_ins:
            raise ValueError(f'start_level must be in [0, {self.num_ins - 1}]'
                             f' for {self.num_ins} inputs, got {start_level}')
        if end_level in (-1, self.num_ins - 1):
            if num_outs < self.num_ins - start_level:
                raise ValueError(
                    f'num_outs must be at least the number of used inputs '
                    f'({self.num_ins - start_level}: levels {start_level}..'
                    f'{self.num_ins - 1}), got {num_outs}')
            return self.num_ins
        if not start_level <= end_level < self.num_ins:
            raise ValueError(f'end_level must be -1 or in [{start_level}, '
                             f'{self.num_ins - 1}], got {end_level}')
        if num_outs != end_level - start_level + 1:
            raise ValueError(
                f'with end_level={end_level} (not the last input) no extra '
                f'levels are allowed: num_outs must be '
                f'{end_level - start_level + 1}, got {num_outs}')
        return end_level + 1

    @staticmethod
    def _check_extra_convs(add_extra_convs):
        if isinstance(add_extra_convs, str):
            if add_extra_convs not in EXTRA_CONV_SOURCES:
                raise ValueError(f'add_extra_convs must be a bool or one of '
                                 f'{EXTRA_CONV_SOURCES}, got '
                                 f'{add_extra_convs!r}')
            return add_extra_convs
        if not isinstance(add_extra_convs, bool):
            raise TypeError(f'add_extra_convs must be a bool or one of '
                            f'{EXTRA_CONV_SOURCES}, got {add_extra_convs!r}')
        return 'on_input' if add_extra_convs else False

    def _check_blocks(self, num_blocks, kernel_sizes, head_dim,
                      drop_path_rate):
        """Validate the MASS kwargs; returns the head count."""
        if not isinstance(num_blocks, int) or num_blocks < 0:
            raise ValueError(f'num_blocks must be an int >= 0, got '
                             f'{num_blocks!r}')
        if not kernel_sizes or any(
                not isinstance(k, int) or k < 1 or k % 2 == 0
                for k in kernel_sizes):
            raise ValueError(f'kernel_sizes must be a non-empty sequence of '
                             f'odd positive ints, got {kernel_sizes!r}')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got '
                             f'{drop_path_rate}')
        num_heads = self.out_channels // head_dim if head_dim > 0 else 0
        if (head_dim <= 0 or head_dim % 4 or self.out_channels % head_dim
                or num_heads % 2):
            raise ValueError(
                f'out_channels / head_dim must be an even number of heads '
                f'and head_dim divisible by 4 (2-D RoPE), got out_channels='
                f'{self.out_channels}, head_dim={head_dim}; e.g. 256 / 32 '
                f'gives 8 heads')
        return num_heads

    def level_kernel(self, level):
        """Window of backbone level ``level`` (past the end: the last)."""
        return self.kernel_sizes[min(level, len(self.kernel_sizes) - 1)]

    def init_weights(self):
        """Apply ``init_cfg`` to the lateral and extra convs only.

        FPN's default (Xavier on every ``Conv2d``) would overwrite the MASS
        blocks' own init (trunc-normal(0.02) convs as in the backbone, the
        A2SSM's dt/A/D init), so the blocks keep theirs. ``Pretrained``
        entries are applied last to the whole neck, as mmengine does.
        """
        if self._is_init:
            return
        pretrained, plain = split_init_cfg(self.init_cfg)
        if plain:
            initialize(self.lateral_convs, plain)
            initialize(self.extra_convs, plain)
        if pretrained:
            initialize(self, pretrained)
        self._is_init = True

    def _check_inputs(self, inputs):
        if len(inputs) != self.num_ins:
            raise ValueError(f'MASSFPN expects {self.num_ins} input maps (one '
                             f'per in_channels entry), got {len(inputs)}')
        got = [x.shape[1] if x.dim() == 4 else tuple(x.shape) for x in inputs]
        if got != self.in_channels:
            raise ValueError(f'MASSFPN expects B×C×H×W inputs with channels '
                             f'{self.in_channels}, got {got}')

    def top_down(self, inputs):
        """Laterals plus the FPN top-down sum, before any refinement.

        Returns a list of the used levels' fused maps, B×out×H_i×W_i each.
        """
        self._check_inputs(inputs)
        laterals = [conv(inputs[self.start_level + i])  # B, out, H_i, W_i
                    for i, conv in enumerate(self.lateral_convs)]
        for i in range(len(laterals) - 1, 0, -1):
            if 'scale_factor' in self.upsample_cfg:
                coarse = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                coarse = F.interpolate(laterals[i],
                                       size=laterals[i - 1].shape[2:],
                                       **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + coarse  # B, out, H_i-1, W_i-1
        return laterals

    def forward(self, inputs):
        """inputs: tuple of B×C_i×H_i×W_i → tuple of ``num_outs`` maps."""
        fused = self.top_down(inputs)
        outs = [stage(x) for stage, x in zip(self.refine_stages, fused)]
        used = len(outs)
        if self.num_outs > used and not self.add_extra_convs:
            for _ in range(self.num_outs - used):
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))  # ⌈H/2⌉
        elif self.num_outs > used:
            source = {
                'on_input': inputs[self.backbone_end_level - 1],
                'on_lateral': fused[-1],  # the top lateral, no top-down sum
                'on_output': outs[-1],
            }[self.add_extra_convs]
            outs.append(self.extra_convs[0](source))  # B, out, ⌈H/2⌉, ⌈W/2⌉
            for conv in self.extra_convs[1:]:
                x = F.relu(outs[-1]) if self.relu_before_extra_convs \
                    else outs[-1]
                outs.append(conv(x))
        return tuple(outs)
