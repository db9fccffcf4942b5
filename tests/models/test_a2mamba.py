import math

import pytest
import torch

from mmmamba.models import A2Mamba

# released parameter counts without the classifier, tied bias counted once
RELEASED_PARAMS = {
    'nano': 2_970_372,
    'tiny': 13_878_682,
    'small': 29_120_474,
    'base': 49_582_104,
    'large': 92_021_176,
}


def stage_sizes(height, width):
    sizes = []
    for _ in range(4):  # stride-2 convs (k3, pad 1) round up
        height, width = math.ceil(height / 2), math.ceil(width / 2)
        sizes.append((height, width))
    return [(math.ceil(h / 2), math.ceil(w / 2)) for h, w in sizes]


def expected_shapes(model, batch, height, width):
    return [(batch, c, h, w)
            for c, (h, w) in zip(model.embed_dims, stage_sizes(height, width))]


@pytest.mark.parametrize('arch', sorted(RELEASED_PARAMS))
def test_parameter_count_matches_release(arch):
    model = A2Mamba(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == RELEASED_PARAMS[arch]


@pytest.mark.parametrize('arch', sorted(RELEASED_PARAMS))
def test_every_arch_at_224(arch):
    torch.manual_seed(0)
    model = A2Mamba(arch=arch).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    assert [tuple(o.shape) for o in outs] == expected_shapes(model, 1, 224, 224)
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('size', [(32, 32), (112, 137), (511, 511),
                                  (800, 1333)])
def test_test_arch_any_size(size):
    torch.manual_seed(0)
    model = A2Mamba(arch='test').eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert [tuple(o.shape) for o in outs] == expected_shapes(model, 1, *size)
    for out in outs:
        assert torch.isfinite(out).all()
        assert out.std() > 0


def test_out_indices_select_stages():
    model = A2Mamba(arch='test', out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64]


def test_with_cp_gives_same_output_and_grads():
    torch.manual_seed(0)
    plain = A2Mamba(arch='test')
    ckpt = A2Mamba(arch='test', with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 96)
    results = []
    for model in (plain, ckpt):
        model.train()
        outs = model(x.clone().requires_grad_())
        sum(o.square().mean() for o in outs).backward()
        results.append((outs, {n: p.grad for n, p in model.named_parameters()}))
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(a, b)
    for name, grad in results[0][1].items():
        torch.testing.assert_close(grad, results[1][1][name], msg=name)


@pytest.mark.parametrize('frozen_stages', [0, 1, 3, 4])
def test_frozen_stages_stay_frozen_after_train(frozen_stages):
    model = A2Mamba(arch='test', frozen_stages=frozen_stages)
    model.train()
    frozen = [model.stem] + [model.stages[i] for i in range(frozen_stages)] \
        + [model.downsamples[i] for i in range(frozen_stages - 1)]
    for module in frozen:
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    trainable = [model.stages[i] for i in range(frozen_stages, 4)]
    for module in trainable:
        assert all(p.requires_grad for p in module.parameters())
        assert module.training


def test_norm_eval_keeps_batchnorm_in_eval():
    model = A2Mamba(arch='test', norm_eval=True)
    model.train()
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and not any(m.training for m in bns)
    before = [m.running_mean.clone() for m in bns]
    model(torch.randn(2, 3, 64, 64))
    for m, old in zip(bns, before):
        assert torch.equal(m.running_mean, old)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = A2Mamba(arch='test', drop_path_rate=0.1).train()
    outs = model(torch.randn(2, 3, 96, 128))
    sum(o.square().mean() for o in outs).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_drop_path_rises_linearly():
    model = A2Mamba(arch='tiny', drop_path_rate=0.3)
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for s in model.stages
             for b in s.blocks]
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.3)
    steps = [b - a for a, b in zip(rates, rates[1:])]
    assert max(steps) == pytest.approx(min(steps))


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='huge'), r"unknown A2Mamba arch 'huge'.*'base'.*'tiny'"),
    (dict(arch=dict(embed_dims=(8, 16, 32, 64))), 'missing'),
    (dict(arch=3), 'must be a name'),
    (dict(out_indices=(0, 4)), r'subset of \(0, 1, 2, 3\)'),
    (dict(out_indices=()), 'non-empty'),
    (dict(out_indices=(3, 0)), 'strictly increasing'),
    (dict(out_indices=(1, 1)), 'strictly increasing'),
    (dict(in_channels=0), 'in_channels must be an integer >= 1'),
    (dict(frozen_stages=5), r'frozen_stages must be in \[-1, 4\]'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        A2Mamba(**{'arch': 'test', **kwargs})


@pytest.mark.parametrize('x, error, match', [
    (torch.randn(3, 64, 64), ValueError, 'B×C×H×W'),
    (torch.randn(1, 3, 31, 64), ValueError, 'at least 32×32'),
    (torch.randn(1, 1, 64, 64), ValueError,
     'built for 3-channel images.*got 1 channels'),
    (torch.randn(1, 4, 64, 64), ValueError, 'got 4 channels'),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), TypeError,
     'floating-point images.*torch.uint8'),
    (torch.randn(1, 3, 64, 64, dtype=torch.float64), TypeError,
     r'input is torch.float64 but the backbone weights are torch.float32'),
])
def test_bad_inputs_raise(x, error, match):
    with pytest.raises(error, match=match):
        A2Mamba(arch='test')(x)


def relative_errors(outs, refs):
    return [float((o.double() - r.double()).norm() / r.double().norm())
            for o, r in zip(outs, refs)]


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16,
                                   torch.float64])
def test_whole_model_casts_match_fp32(dtype):
    """model.half() / .bfloat16() / .double(): outputs in that dtype, finite,
    and as close to the fp32 model's as the rounding allows: within 4× the
    error of an fp32 model that only has its weights and input rounded to
    ``dtype`` (the fp32 islands hand the cast dtype back)."""
    torch.manual_seed(0)
    model = A2Mamba(arch='test').eval()
    x = torch.randn(1, 3, 64, 64)
    rounded = A2Mamba(arch='test').eval()
    rounded.load_state_dict({k: v.to(dtype).to(v.dtype)
                             for k, v in model.state_dict().items()})
    with torch.no_grad():
        expect = model(x)
        bounds = relative_errors(rounded(x.to(dtype).float()), expect)
        outs = model.to(dtype)(x.to(dtype))
    assert all(out.dtype == dtype and torch.isfinite(out).all()
               for out in outs)
    for error, bound in zip(relative_errors(outs, expect), bounds):
        assert error < max(4 * bound, 1e-5), (dtype, error, bound)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_registered_in_mmdet_and_mmseg(scope):
    import importlib

    import mmmamba  # noqa: F401
    registry = importlib.import_module(f'{scope}.registry').MODELS
    assert registry.get('A2Mamba') is A2Mamba
    model = registry.build(dict(type='A2Mamba', arch='test'))
    assert isinstance(model, A2Mamba)


def test_bf16_autocast_forward_backward_is_finite():
    torch.manual_seed(0)
    model = A2Mamba(arch='test').eval()
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        expect = model(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
    sum(o.float().square().mean() for o in outs).backward()
    for out, ref in zip(outs, expect):
        assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
        assert (out.float() - ref).norm() / ref.norm() < 0.05
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), \
            name
