"""tools/analysis/get_flops.py and tools/analysis/benchmark.py."""
import contextlib
import re

import pytest
import torch

from tools_helpers import QUICK_SEG, load_tool

# paper GFLOPs (docs/design.md § Variants; ImageNet-1K 224², rounded to 0.1 G)
PAPER_GFLOPS = {'nano': 0.8, 'tiny': 2.7, 'small': 5.4, 'large': 17.4}


def load_analysis_tool(name):
    return load_tool(f'analysis/{name}')


@pytest.fixture
def meta_backbone(monkeypatch):
    """Build A2Mamba on the meta device (no memory, no compute): only shapes
    matter for counting. Weight init and autocast do not run on meta."""
    import mmmamba.models.backbones.a2mamba as backbone_mod
    import mmmamba.models.layers.mixer as mixer_mod
    monkeypatch.setattr(backbone_mod, 'init_conv_trunc_normal',
                        lambda m: None)
    monkeypatch.setattr(mixer_mod, 'trunc_normal_', lambda t, **kw: t)
    monkeypatch.setattr(torch, 'autocast',
                        lambda *a, **kw: contextlib.nullcontext())
    monkeypatch.setenv('MMMAMBA_OPS_BACKEND', 'reference')

    def build(arch):
        with torch.device('meta'):
            return backbone_mod.A2Mamba(arch=arch)
    return build


# base is not compared: its layer shapes are fixed by the released checkpoint
# (the parameter count matches the release exactly) and give 11.42 G at 224²,
# while the paper prints 10.7 G; the README's known limits say so.
@pytest.mark.parametrize('arch', ['nano', 'tiny', 'small', 'large'])
def test_backbone_flops_match_paper(arch, meta_backbone):
    get_flops = load_analysis_tool('get_flops')
    model = meta_backbone(arch)
    result = get_flops.count_flops(
        model, torch.empty(1, 3, 224, 224, device='meta'))
    assert result['backbone'] == result['total']
    assert result['total'] == sum(result[k] for k in get_flops.KINDS)
    for kind in ('conv', 'na2d_qk', 'na2d_av', 'scan', 'global_attn'):
        assert result[kind] > 0, kind
    assert result['params'] == sum(p.numel() for p in model.parameters())
    assert abs(result['total'] / 1e9 - PAPER_GFLOPS[arch]) <= 0.06


def test_meta_count_equals_real_count(meta_backbone):
    get_flops = load_analysis_tool('get_flops')
    from mmmamba.models.backbones.a2mamba import A2Mamba
    shape = (1, 3, 96, 128)
    meta = get_flops.count_flops(meta_backbone('test'),
                                 torch.empty(*shape, device='meta'))
    real_model = A2Mamba(arch='test')
    real = get_flops.count_flops(real_model, torch.randn(*shape))
    for key in (*get_flops.KINDS, 'total', 'params'):
        assert meta[key] == real[key], key
    # analytic check of one op kind: stage-4 global attention
    dims, heads = real_model.embed_dims[-1], 4
    L = (96 // 32) * (128 // 32)
    assert real['global_attn'] == 2 * heads * L * L * (dims // heads)


def test_get_flops_cli_on_quickstart_config(capsys):
    get_flops = load_analysis_tool('get_flops')
    result = get_flops.main([QUICK_SEG, '--shape', '64', '64'])
    out = capsys.readouterr().out
    assert re.search(r'^FLOPs\s+\d+\.\d+ G', out, re.M), out
    assert re.search(r'^params\s+\d+\.\d+ M', out, re.M), out
    assert result['total'] > result['backbone'] > 0


def test_benchmark_runs_one_iteration(capsys):
    benchmark = load_analysis_tool('benchmark')
    ips = benchmark.main([QUICK_SEG, '--shape', '64', '64', '--iters', '1',
                          '--warmup', '0', '--device', 'cpu'])
    out = capsys.readouterr().out
    assert ips > 0
    assert 'device: cpu' in out
    assert re.search(r'^backend: na2d_qk: \w+', out, re.M), out
    assert re.search(r'^images/s: \d+\.\d+', out, re.M), out
