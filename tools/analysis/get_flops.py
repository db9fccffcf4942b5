"""Parameters and FLOPs of an A2Mamba backbone or of an mmdet/mmseg model.

    python tools/analysis/get_flops.py --arch tiny              # 224x224
    python tools/analysis/get_flops.py CONFIG --shape 512 512

Convention: "FLOPs" are multiply-accumulates (1 MAC = 1 FLOP), as in the
A2Mamba paper and most vision papers (fvcore / mmengine convention). With it
the bare backbones at 224² give 0.81 / 2.69 / 5.36 / 11.42 / 17.39 G for
nano / tiny / small / base / large, i.e. the paper's 0.8 / 2.7 / 5.4 / 17.4 G
except base (paper 10.7 G; 11.4 G here, and counting 2 FLOPs per MAC would be
off by 2x everywhere). Adding the released classifier head (conv1x1 C4->1024
at 7x7 + linear 1024->1000) gives 0.82 / 2.71 / 5.39 / 11.45 / 17.42 G.
Counted:

- ``conv``: nn.Conv2d, ``Cout·(Cin/groups)·kh·kw`` per output pixel
  (+1 per output for a bias is NOT added, as in fvcore);
- ``linear``: nn.Linear and the A2SSM projections (x_proj, dt_proj, which run
  as einsums with the Linear weights): ``in·out`` per token;
- ``norm``: as fvcore: eval-mode BatchNorm 2 per element (1 without
  affine), LayerNorm/GroupNorm 5 per element (4 without affine);
- ``na2d_qk`` / ``na2d_av``: neighborhood attention, ``B·h·H·W·K²·d`` MACs
  each (the convention of NATTEN's fvcore handles); the fused A2SSM
  aggregation counts as the two ``na2d_av`` calls it replaces;
- ``scan``: selective_scan_states, ``9·B·D·N·L`` (the count of
  mamba-ssm's / VMamba's ``flops_selective_scan_ref`` without the D and z
  terms: exp(ΔA), ΔBu, h update, per state element);
- ``head_mix``: the A2SSM 1×1 conv over heads, which runs as a batched
  matmul with the Conv2d weights (counted as a conv, ``G²`` per head pixel);
- ``global_attn``: stage-4 attention, ``2·B·G·L²·d`` (QKᵀ and AV);
- ``upsample``/pooling and pure elementwise ops (activations, RoPE, gating,
  residuals, softmax) are not counted, as in fvcore.

``count_flops(model, inputs)`` returns a dict of per-kind counts (MACs) plus
``'total'``, ``'backbone'`` and ``'params'``.
"""
import argparse
import contextlib
import os.path as osp
import sys
from collections import defaultdict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if osp.join(ROOT, 'tools') not in sys.path:
    sys.path.insert(0, osp.join(ROOT, 'tools'))
import _common  # noqa: E402,F401  (quiets third-party deprecation warnings)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from _common import build_from_config  # noqa: E402
from _errors import run_tool  # noqa: E402

KINDS = ('conv', 'linear', 'norm', 'na2d_qk', 'na2d_av', 'scan',
         'global_attn')


def _numel(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


class _Counter:
    """Accumulates MACs per kind and per top-level part of the model."""

    def __init__(self):
        self.kinds = defaultdict(int)
        self.parts = defaultdict(int)
        # parts called as methods (mmseg calls decode_head.forward) land
        # here, not in their own part
        self.part = 'other (heads)'

    def add(self, kind, macs):
        self.kinds[kind] += int(macs)
        self.parts[self.part] += int(macs)


def _conv_hook(counter):
    def hook(m, inputs, output):
        k = _numel(m.kernel_size)
        counter.add('conv', output.numel() * (m.in_channels // m.groups) * k)
    return hook


def _linear_hook(counter):
    def hook(m, inputs, output):
        counter.add('linear', output.numel() * m.in_features)
    return hook


def _norm_hook(counter):
    def hook(m, inputs, output):
        affine = getattr(m, 'weight', None) is not None
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.training:
            per = 2 if affine else 1
        else:
            per = 5 if affine else 4
        counter.add('norm', output.numel() * per)
    return hook


def _a2ssm_hook(counter):
    # x_proj / dt_proj run as einsums with the Linear weights and head_mix
    # as a matmul with the Conv2d weights (no module calls), so they are
    # counted from the input shape here.
    def hook(m, inputs, output):
        y = inputs[0]
        B, C, H, W = y.shape
        tokens = B * H * W
        counter.add('linear', tokens * C * (m.dt_rank + 2))
        counter.add('linear', tokens * m.dt_rank * C)
        counter.add('conv', tokens * C * m.num_heads)  # (C/G)·L pixels, G²
    return hook


def _part_hooks(counter, name):
    def pre(m, inputs):
        m._flops_prev_part = counter.part
        counter.part = name

    def post(m, inputs, output):
        counter.part = m._flops_prev_part
    return pre, post


def _wrap_ops(counter):
    """Wrapped na2d_qk / na2d_av / selective_scan_states / a2ssm_aggregate
    that count."""
    from mmmamba import ops

    def qk(query, key, kernel_size, dilation=1, rpb=None):
        out = ops.na2d_qk(query, key, kernel_size, dilation, rpb)
        counter.add('na2d_qk', out.numel() * query.shape[-1])
        return out

    def av(attn, value, kernel_size, dilation=1):
        counter.add('na2d_av', attn.numel() * value.shape[-1])
        return ops.na2d_av(attn, value, kernel_size, dilation)

    def scan(u, delta, A, B, delta_bias=None, delta_softplus=True):
        batch, D, L = u.shape
        counter.add('scan', 9 * batch * D * A.shape[-1] * L)
        return ops.selective_scan_states(u, delta, A, B, delta_bias,
                                         delta_softplus)

    def aggregate(attn_local, attn_dilated, states, kernel_size, dilation):
        head_dim = states.shape[2]  # B, G, d, H, W
        counter.add('na2d_av',
                    (attn_local.numel() + attn_dilated.numel()) * head_dim)
        return ops.a2ssm_aggregate(attn_local, attn_dilated, states,
                                   kernel_size, dilation)
    return dict(na2d_qk=qk, na2d_av=av, selective_scan_states=scan,
                a2ssm_aggregate=aggregate)


@contextlib.contextmanager
def _patched_ops(counter):
    """Patch the op names where mmmamba's layers imported them."""
    import mmmamba.models.layers.a2ssm as a2ssm_mod
    import mmmamba.models.layers.mixer as mixer_mod
    import mmmamba.models.layers.neighborhood as nbh_mod
    from mmmamba.models.layers import MASSMixer
    wrapped = _wrap_ops(counter)
    saved = []
    for mod in (nbh_mod, mixer_mod, a2ssm_mod):
        for name, fn in wrapped.items():
            if hasattr(mod, name):
                saved.append((mod, name, getattr(mod, name)))
                setattr(mod, name, fn)
    original_global = MASSMixer._global_attention

    def global_attention(self, q, k, v):
        B, G, H, W, d = q.shape
        counter.add('global_attn', 2 * B * G * (H * W)**2 * d)
        return original_global(self, q, k, v)
    MASSMixer._global_attention = global_attention
    try:
        yield
    finally:
        MASSMixer._global_attention = original_global
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def count_flops(model, inputs, forward=None):
    """Count MACs ("FLOPs") of one forward of ``model``.

    Args:
        model (nn.Module): run in eval mode under ``torch.no_grad``.
        inputs (Tensor | tuple): positional inputs of ``forward``.
        forward (callable, optional): called as ``forward(*inputs)`` instead
            of ``model(*inputs)`` (e.g. ``model.extract_feat``).

    Returns:
        dict: ``{kind: MACs}`` for every kind of ``KINDS``, ``'total'``,
        ``'parts'`` (MACs per top-level child: backbone, neck, heads),
        ``'backbone'`` (MACs of the A2Mamba backbone) and ``'params'``
        (parameters of the model).
    """
    from mmmamba.models.layers import A2SSM
    if not isinstance(inputs, (tuple, list)):
        inputs = (inputs, )
    counter = _Counter()
    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(_conv_hook(counter)))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(_linear_hook(counter)))
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm,
                            nn.GroupNorm)):
            handles.append(m.register_forward_hook(_norm_hook(counter)))
        elif isinstance(m, A2SSM):
            handles.append(m.register_forward_hook(_a2ssm_hook(counter)))
    children = dict(model.named_children())
    if not children or _is_backbone(model):
        children = {'backbone': model}
    for name, child in children.items():
        pre, post = _part_hooks(counter, name)
        handles.append(child.register_forward_pre_hook(pre))
        handles.append(child.register_forward_hook(post))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _patched_ops(counter):
            (forward or model)(*inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    result = {kind: counter.kinds.get(kind, 0) for kind in KINDS}
    result['total'] = sum(counter.kinds.values())
    result['parts'] = dict(counter.parts)
    result['backbone'] = counter.parts.get('backbone', 0)
    result['params'] = sum(p.numel() for p in model.parameters())
    return result


def _is_backbone(model):
    from mmmamba.models.backbones.a2mamba import A2Mamba
    return isinstance(model, A2Mamba)


def build_backbone(arch):
    import mmmamba  # noqa: F401
    from mmmamba.models.backbones.a2mamba import A2Mamba
    return A2Mamba(arch=arch)


def model_forward(model):
    """A forward without data samples: backbone(+neck)(+head) features.

    mmdet/mmseg's ``mode='tensor'`` runs the backbone, neck and the dense
    heads' raw outputs without needing data samples.
    """
    from mmmamba.models.backbones.a2mamba import A2Mamba
    if isinstance(model, A2Mamba):
        return model

    def forward(x):
        try:
            out = model(x, None, mode='tensor')
            forward.note = "model(inputs, mode='tensor')"
            return out
        except Exception as error:  # two-stage detectors need data samples
            forward.note = ('extract_feat only (backbone + neck; heads '
                            'not run: mode=tensor failed with '
                            f'{type(error).__name__})')
            return model.extract_feat(x)
    forward.note = None
    return forward


def format_table(result, title):
    g = 1e9
    lines = [title, f'{"params":<14}{result["params"] / 1e6:10.3f} M',
             f'{"FLOPs":<14}{result["total"] / g:10.3f} G  (MACs)']
    for part, macs in sorted(result['parts'].items()):
        lines.append(f'  {part:<14}{macs / g:8.3f} G')
    lines.append('by op kind (whole model):')
    for kind in KINDS:
        lines.append(f'  {kind:<14}{result[kind] / g:8.3f} G')
    return '\n'.join(lines)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?',
                        help='mmdet/mmseg config (or give --arch)')
    parser.add_argument('--arch', help='bare A2Mamba backbone arch (nano, '
                        'tiny, small, base, large, test)')
    parser.add_argument('--shape', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help='input size (default 224 224 for --arch, the '
                        'test crop/scale otherwise: 512 512 if unknown)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='key=value overrides of the config')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.arch is None):
        parser.error('give either CONFIG or --arch')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.arch is not None:
        model = build_backbone(args.arch)
        shape = args.shape or (224, 224)
        title = (f'A2Mamba-{args.arch} backbone, input '
                 f'1x3x{shape[0]}x{shape[1]}')
    else:
        model, _ = build_from_config(args.config, args.cfg_options)
        shape = args.shape or (512, 512)
        title = f'{args.config}, input 1x3x{shape[0]}x{shape[1]}'
    x = torch.randn(1, 3, *shape)
    forward = model_forward(model)
    result = count_flops(model, x, forward=forward)
    if getattr(forward, 'note', None):
        title += f'\ncounted: {forward.note}'
    print(format_table(result, title))
    return result


if __name__ == '__main__':
    sys.exit(run_tool(main))
