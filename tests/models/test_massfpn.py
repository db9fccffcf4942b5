import inspect
import math

import pytest
import torch
import torch.nn as nn
from mmdet.models.necks import FPN

from mmmamba.models import A2Mamba, MASSFPN

IN_CHANNELS = [16, 32, 64, 64]
# odd, non-halving sizes; the coarsest map (2×3) is below every window
SIZES = [(15, 21), (8, 11), (4, 6), (2, 3)]
FAST = dict(out_channels=32, head_dim=8, kernel_sizes=(3, ))


def make_inputs(sizes=SIZES, channels=IN_CHANNELS, batch=1):
    torch.manual_seed(0)
    return tuple(torch.randn(batch, c, h, w)
                 for c, (h, w) in zip(channels, sizes))


def halve(size):
    return tuple(math.ceil(n / 2) for n in size)


def expected_shapes(sizes, num_outs, start_level=0, channels=32):
    shapes = list(sizes[start_level:])
    while len(shapes) < num_outs:
        shapes.append(halve(shapes[-1]))
    return [(1, channels, h, w) for h, w in shapes[:num_outs]]


def copy_fpn_weights(neck, fpn):
    """Give mmdet's FPN our lateral and extra conv weights."""
    used = len(neck.lateral_convs)
    fpn.lateral_convs.load_state_dict(neck.lateral_convs.state_dict())
    for j, conv in enumerate(neck.extra_convs):
        fpn.fpn_convs[used + j].load_state_dict(conv.state_dict())


@pytest.mark.parametrize('num_outs,add_extra_convs,relu', [
    (4, False, False), (5, False, False), (6, False, False),
    (5, True, False), (5, 'on_input', False), (5, 'on_lateral', False),
    (5, 'on_output', False), (6, 'on_output', True)])
def test_output_shapes(num_outs, add_extra_convs, relu):
    neck = MASSFPN(IN_CHANNELS, num_outs=num_outs,
                   add_extra_convs=add_extra_convs,
                   relu_before_extra_convs=relu, **FAST).eval()
    inputs = make_inputs()
    with torch.no_grad():
        outs = neck(inputs)
        if not add_extra_convs:  # 1×1 max-pool, stride 2
            expected = [outs[3][..., ::2, ::2]]
        else:
            source = {'on_input': inputs[3],
                      'on_lateral': neck.top_down(inputs)[3],
                      'on_output': outs[3]}[neck.add_extra_convs]
            expected = [neck.extra_convs[0](source)]
        if num_outs == 6 and not add_extra_convs:
            expected.append(expected[0][..., ::2, ::2])
        elif num_outs == 6:
            extra = expected[0].relu() if relu else expected[0]
            expected.append(neck.extra_convs[1](extra))
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == expected_shapes(SIZES, num_outs)
    assert all(torch.isfinite(o).all() for o in outs)
    for out, ref in zip(outs[4:], expected[:num_outs - 4], strict=True):
        torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('start_level,end_level,num_outs,add_extra_convs', [
    (1, -1, 3, False), (1, -1, 5, 'on_input'), (1, 2, 2, False),
    (0, 2, 3, False)])
def test_start_and_end_level(start_level, end_level, num_outs,
                             add_extra_convs):
    neck = MASSFPN(IN_CHANNELS, num_outs=num_outs, start_level=start_level,
                   end_level=end_level, add_extra_convs=add_extra_convs,
                   **FAST).eval()
    assert len(neck.lateral_convs) == len(neck.refine_stages) == \
        neck.backbone_end_level - start_level
    with torch.no_grad():
        outs = neck(make_inputs())
    assert [tuple(o.shape) for o in outs] == expected_shapes(
        SIZES, num_outs, start_level)


def test_backbone_features_odd_image_gradients_reach_every_parameter():
    """97×131 image → 'test' backbone → neck with the default windows."""
    torch.manual_seed(0)
    backbone = A2Mamba(arch='test').eval()
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 97, 131))
    neck = MASSFPN(list(backbone.embed_dims), out_channels=32, num_outs=5,
                   head_dim=8, add_extra_convs='on_input')
    neck.init_weights()
    outs = neck(feats)
    sizes = [tuple(f.shape[2:]) for f in feats]  # 25×33, 13×17, 7×9, 4×5
    assert [tuple(o.shape) for o in outs] == expected_shapes(sizes, 5)
    assert all(torch.isfinite(o).all() for o in outs)
    loss = sum((o * torch.randn_like(o)).sum() for o in outs)
    loss.backward()
    for name, param in neck.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize('add_extra_convs,relu,cfgs', [
    (False, False, {}),
    ('on_input', True, {}),
    ('on_lateral', False, dict(norm_cfg=dict(type='BN'),
                               act_cfg=dict(type='ReLU'))),
    ('on_output', True, dict(norm_cfg=dict(type='BN'),
                             no_norm_on_lateral=True)),
])
def test_zero_blocks_equals_mmdet_fpn_without_output_convs(
        add_extra_convs, relu, cfgs):
    kwargs = dict(num_outs=6, start_level=1, add_extra_convs=add_extra_convs,
                  relu_before_extra_convs=relu, **cfgs)
    neck = MASSFPN(IN_CHANNELS, num_blocks=0, **FAST, **kwargs)
    fpn = FPN(IN_CHANNELS, 32, **kwargs)
    neck.init_weights()
    copy_fpn_weights(neck, fpn)
    for i in range(len(neck.lateral_convs)):
        fpn.fpn_convs[i] = nn.Identity()
    neck.eval(), fpn.eval()
    inputs = make_inputs()
    with torch.no_grad():
        ours, theirs = neck(inputs), fpn(inputs)
    assert len(ours) == len(theirs) == 6
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('upsample_cfg,sizes', [
    (dict(mode='nearest'), SIZES),
    (dict(mode='bilinear', align_corners=False), SIZES),
    (dict(scale_factor=2, mode='nearest'), [(16, 24), (8, 12), (4, 6),
                                            (2, 3)]),
])
def test_top_down_matches_mmdet_fpn_and_blocks_refine(upsample_cfg, sizes):
    neck = MASSFPN(IN_CHANNELS, num_outs=4, upsample_cfg=upsample_cfg,
                   **FAST).eval()
    fpn = FPN(IN_CHANNELS, 32, num_outs=4, upsample_cfg=upsample_cfg).eval()
    copy_fpn_weights(neck, fpn)
    for i in range(4):  # FPN's outputs are then the fused top-down sums
        fpn.fpn_convs[i] = nn.Identity()
    inputs = make_inputs(sizes)
    with torch.no_grad():
        fused, reference, outs = neck.top_down(inputs), fpn(inputs), \
            neck(inputs)
    for a, b, out in zip(fused, reference, outs):
        torch.testing.assert_close(a, b)
        assert out.shape == a.shape
        assert (out - a).abs().max() > 1e-3  # the MASS blocks did refine


def test_with_cp_gives_same_output_and_gradients():
    torch.manual_seed(0)
    kwargs = dict(in_channels=IN_CHANNELS[1:], num_outs=3, num_blocks=2,
                  **FAST)
    neck, neck_cp = MASSFPN(**kwargs), MASSFPN(with_cp=True, **kwargs)
    neck_cp.load_state_dict(neck.state_dict())
    inputs = make_inputs(SIZES[1:], IN_CHANNELS[1:])
    results = []
    for model in (neck, neck_cp):
        outs = model(inputs)
        sum(o.square().sum() for o in outs).backward()
        results.append([*outs, *(p.grad for p in model.parameters())])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)


def test_windows_heads_and_drop_path_per_level():
    neck = MASSFPN([8, 16, 32, 64, 64], out_channels=64, num_outs=5,
                   num_blocks=2, drop_path_rate=0.2)
    blocks = [stage.blocks[0] for stage in neck.refine_stages]
    # level 4 is past the default (11, 9, 7, 7): it uses the last window
    assert [b.mixer.kernel_size for b in blocks] == [11, 9, 7, 7, 7]
    assert all(b.mixer.num_heads == 2 for b in blocks)  # 64 / 32
    assert all(b.mixer.a2ssm is not None for b in blocks)  # no global attn
    rates = [b.drop_path.drop_prob for b in neck.refine_stages[0].blocks]
    assert rates == pytest.approx([0.1, 0.2])
    neck = MASSFPN([8, 16, 32, 64], out_channels=64, num_outs=3,
                   start_level=1)
    assert [s.blocks[0].mixer.kernel_size
            for s in neck.refine_stages] == [9, 7, 7]


def test_init_cfg_reaches_only_lateral_and_extra_convs(tmp_path):
    torch.manual_seed(0)
    neck = MASSFPN(IN_CHANNELS, num_outs=5, add_extra_convs='on_input',
                   **FAST)
    blocks_before = {k: v.clone()
                     for k, v in neck.refine_stages.state_dict().items()}
    convs = [m.conv for m in [*neck.lateral_convs, *neck.extra_convs]]
    for conv in convs:
        nn.init.constant_(conv.weight, 5.)
        nn.init.constant_(conv.bias, 5.)
    neck.init_weights()
    for conv in convs:  # Xavier uniform, zero bias
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(conv.weight)
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert conv.weight.abs().max() <= bound
        assert conv.weight.std() > 0
        assert (conv.bias == 0).all()
    for key, value in neck.refine_stages.state_dict().items():
        torch.testing.assert_close(value, blocks_before[key], msg=key)
    # the blocks' convs keep the backbone's trunc-normal(0.02) init
    qkv = neck.refine_stages[0].blocks[0].mixer.qkv.weight
    assert qkv.std() < 0.05

    path = tmp_path / 'neck.pth'
    torch.save(neck.state_dict(), path)
    loaded = MASSFPN(IN_CHANNELS, num_outs=5, add_extra_convs='on_input',
                     init_cfg=dict(type='Pretrained', checkpoint=str(path)),
                     **FAST)
    loaded.init_weights()
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, neck.state_dict()[key], msg=key)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_registered_in_mmdet_and_mmseg(scope):
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    assert registry.get('MASSFPN') is MASSFPN
    neck = registry.build(dict(type='MASSFPN', in_channels=IN_CHANNELS,
                               num_outs=5, **FAST))
    assert isinstance(neck, MASSFPN) and neck.num_outs == 5


def test_constructor_is_a_superset_of_mmdet_fpn():
    ours = inspect.signature(MASSFPN).parameters
    for name, param in inspect.signature(FPN).parameters.items():
        assert name in ours, name
        assert ours[name].default == param.default, name


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=16), TypeError, 'in_channels must be a non-empty list'),
    (dict(num_outs=3), ValueError, 'num_outs must be at least'),
    (dict(start_level=4), ValueError, r'start_level must be in \[0, 3\]'),
    (dict(end_level=1, num_outs=4), ValueError, 'no extra levels'),
    (dict(end_level=5), ValueError, 'end_level must be -1 or in'),
    (dict(add_extra_convs='on_top'), ValueError,
     "one of \\('on_input', 'on_lateral', 'on_output'\\)"),
    (dict(add_extra_convs=1), TypeError, 'add_extra_convs must be a bool'),
    (dict(head_dim=32), ValueError, 'even number of heads'),  # 1 head
    (dict(out_channels=24, head_dim=6), ValueError, 'divisible by 4'),
    (dict(out_channels=36, head_dim=12), ValueError, 'even number of heads'),
    (dict(kernel_sizes=(11, 8)), ValueError, 'odd positive ints'),
    (dict(num_blocks=-1), ValueError, 'num_blocks must be an int >= 0'),
    (dict(drop_path_rate=1.), ValueError, r'drop_path_rate must be in'),
])
def test_bad_arguments_raise(kwargs, error, match):
    args = dict(in_channels=IN_CHANNELS, num_outs=4, **FAST)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MASSFPN(**args)


def test_bad_inputs_raise():
    neck = MASSFPN(IN_CHANNELS, num_outs=4, **FAST)
    inputs = make_inputs()
    with pytest.raises(ValueError, match='expects 4 input maps'):
        neck(inputs[1:])
    with pytest.raises(ValueError, match=r'channels \[16, 32, 64, 64\]'):
        neck(inputs[:2] + (inputs[3], inputs[2][:, :32]))
    with pytest.raises(ValueError, match='B×C×H×W'):
        neck(inputs[:3] + (inputs[3][0], ))
