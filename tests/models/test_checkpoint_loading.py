"""Released-layout checkpoints (built from the published key lists with
random values) must load completely, each tensor into its place."""
import argparse
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmmamba.models import A2Mamba
from mmmamba.models.utils import convert_official_a2mamba
from mmmamba.models.utils.checkpoint import url_cache_path

KEYS_DIR = pathlib.Path(__file__).parents[1] / 'data' / \
    'official_checkpoint_keys'
REPO = pathlib.Path(__file__).parents[2]
DTYPES = {'float32': torch.float32, 'int64': torch.int64}


def released_state_dict(arch, seed=0):
    """Random tensors with the released names, shapes and dtypes; the tied
    biases share values like the released model's state dict."""
    gen = torch.Generator().manual_seed(seed)
    state_dict = {}
    for line in (KEYS_DIR / f'{arch}.txt').read_text().splitlines():
        if line.startswith('#'):
            continue
        name, shape, dtype = line.split('\t')
        shape = tuple(int(s) for s in shape.strip('()').split(',') if s)
        if name.endswith('rpb.1'):
            state_dict[name] = state_dict[name[:-1] + '0'].clone()
        elif DTYPES[dtype] is torch.int64:
            state_dict[name] = torch.randint(1, 1000, shape, generator=gen)
        elif 'running_var' in name:
            state_dict[name] = torch.rand(shape, generator=gen) + 0.5
        else:
            state_dict[name] = torch.randn(shape, generator=gen)
    return state_dict


def build(scope, arch, checkpoint, **init):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model = registry.build(dict(
        type='A2Mamba', arch=arch,
        init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint), **init)))
    model.init_weights()
    return model


def assert_every_tensor_placed(model, released):
    """Each released tensor (but the classifier and the tied copy) equals
    exactly one model tensor, and every model tensor got one."""
    own = model.state_dict()
    placed = set()
    for name, value in released.items():
        if name.startswith('classifier.') or name.endswith('rpb.1'):
            continue
        hits = [k for k, v in own.items()
                if v.shape == value.shape and torch.equal(v, value)]
        if value.numel() == 1 and len(hits) > 1:  # counters may collide
            hits = [h for h in hits if h not in placed][:1]
        assert len(hits) == 1, (name, hits)
        placed.add(hits[0])
    assert placed == set(own), set(own) - placed


@pytest.mark.parametrize('arch', ['nano', 'tiny', 'small', 'base', 'large'])
def test_released_layout_loads_every_tensor(arch, tmp_path):
    released = released_state_dict(arch)
    path = tmp_path / f'a2mamba_{arch}.pth'
    torch.save(released, path)
    model = build('mmdet', arch, path)
    assert_every_tensor_placed(model, released)


def test_key_mapping_spot_checks():
    released = released_state_dict('tiny')
    converted = convert_official_a2mamba(released)
    pairs = {
        'patch_embed.10.bias': 'stem.10.bias',
        'layers.0.rope.angle': 'stages.0.rope.angle',
        'layers.3.1.running_var': 'downsamples.1.1.running_var',
        'layers.0.blocks.1.token_mixer.ssm.Ds': 'stages.0.blocks.1.mixer.a2ssm.D',
        'layers.2.blocks.0.token_mixer.ssm.x_proj_weight':
        'stages.1.blocks.0.mixer.a2ssm.x_proj.weight',
        'layers.4.blocks.3.token_mixer.ssm.state_fusion.weight':
        'stages.2.blocks.3.mixer.a2ssm.head_mix.weight',
        'layers.4.blocks.9.token_mixer.rpb.0': 'stages.2.blocks.9.mixer.rpb',
        'layers.6.blocks.1.token_mixer.rpb.2':
        'stages.3.blocks.1.mixer.global_bias',
        'layers.6.blocks.1.token_mixer.gate.1.running_mean':
        'stages.3.blocks.1.mixer.gate.1.running_mean',
        'layers.6.blocks.0.mlp.dwconv.weight': 'stages.3.blocks.0.ffn.dwconv.weight',
    }
    for old, new in pairs.items():
        assert torch.equal(converted[new], released[old]), (old, new)
    assert not any(k.startswith('classifier') for k in converted)


def test_layer_scale_mapping():
    released = released_state_dict('small')
    converted = convert_official_a2mamba(released)
    assert torch.equal(converted['stages.2.blocks.0.ls1.weight'],
                       released['layers.4.blocks.0.layer_scale1.weight'])


class _Unsafe:
    pass


@pytest.mark.parametrize('wrap', ['raw', 'state_dict', 'model', 'training'])
@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_wrappings_load(wrap, scope, tmp_path):
    released = released_state_dict('nano', seed=1)
    if wrap == 'raw':
        checkpoint = released
    elif wrap == 'training':  # what a timm training script writes
        checkpoint = {
            'epoch': 299, 'arch': 'a2mamba_nano', 'state_dict': released,
            'state_dict_ema': released_state_dict('nano', seed=2),
            'optimizer': {'state': {}, 'param_groups': [{'lr': 1e-3}]},
            'args': argparse.Namespace(model='a2mamba_nano', lr=1e-3,
                                       mixup=0.8, input_size=[3, 224, 224]),
            'metric': np.float64(78.7), 'version': 2,
        }
    else:
        checkpoint = {wrap: released, 'meta': {'epoch': 300}}
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    before = set(map(str, torch.serialization.get_safe_globals()))
    model = build(scope, 'nano', path)
    assert_every_tensor_placed(model, released)
    after = set(map(str, torch.serialization.get_safe_globals()))
    assert after == before  # the allow-list was scoped to the load
    assert str(argparse.Namespace) not in after


def test_globally_allowed_classes_stay_allowed_after_a_load(tmp_path):
    """The tools allow-list numpy classes for resuming; loading a backbone
    (which allows them for one load) must not take them off again."""
    torch.save(released_state_dict('nano'), tmp_path / 'c.pth')
    before = torch.serialization.get_safe_globals()
    try:
        torch.serialization.add_safe_globals([np.dtype])
        build('mmdet', 'nano', tmp_path / 'c.pth')
        assert np.dtype in torch.serialization.get_safe_globals()
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(before)


def test_ema_copy_on_request(tmp_path):
    ema = released_state_dict('nano', seed=2)
    torch.save({'state_dict': released_state_dict('nano'),
                'state_dict_ema': ema}, tmp_path / 'c.pth')
    model = build('mmdet', 'nano', tmp_path / 'c.pth',
                  state_dict_key='state_dict_ema')
    assert_every_tensor_placed(model, ema)


def test_mmmamba_layout_and_prefix_load_unchanged(tmp_path):
    source = A2Mamba(arch='test')
    torch.save(source.state_dict(), tmp_path / 'own.pth')
    detector = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    detector['neck.conv.weight'] = torch.zeros(1)
    torch.save({'state_dict': detector, 'meta': {}}, tmp_path / 'det.pth')
    for path, init in [('own.pth', {}), ('det.pth', {'prefix': 'backbone.'})]:
        model = build('mmseg', 'test', tmp_path / path, **init)
        for k, v in source.state_dict().items():
            assert torch.equal(model.state_dict()[k], v), k
    with pytest.raises(RuntimeError, match="prefix='backbone.'"):
        build('mmseg', 'test', tmp_path / 'det.pth')


def test_same_features_after_loading(tmp_path):
    torch.manual_seed(0)
    source = A2Mamba(arch='test').eval()
    torch.save({'state_dict': source.state_dict()}, tmp_path / 'c.pth')
    model = build('mmdet', 'test', tmp_path / 'c.pth').eval()
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        for a, b in zip(source(x), model(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize('edit, error, match', [
    (lambda sd: sd.update({'layers.0.blocks.0.token_mixer.extra': torch.ones(1)}),
     KeyError, 'no place'),
    (lambda sd: sd.pop('layers.2.blocks.1.mlp.fc2.weight'), RuntimeError,
     '1 missing'),
    (lambda sd: sd['layers.0.blocks.0.token_mixer.rpb.1'].add_(1), ValueError,
     'ties the local and dilated'),
])
def test_incomplete_checkpoints_fail_loudly(edit, error, match, tmp_path):
    released = released_state_dict('nano')
    edit(released)
    torch.save(released, tmp_path / 'bad.pth')
    with pytest.raises(error, match=match):
        build('mmdet', 'nano', tmp_path / 'bad.pth')


def test_wrong_arch_fails_with_shapes(tmp_path):
    torch.save(released_state_dict('tiny'), tmp_path / 'tiny.pth')
    with pytest.raises(RuntimeError, match='another arch'):
        build('mmdet', 'nano', tmp_path / 'tiny.pth')


def test_damaged_and_unsafe_files_fail_loudly(tmp_path):
    torch.save(released_state_dict('nano'), tmp_path / 'full.pth')
    data = (tmp_path / 'full.pth').read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match='truncated'):
        build('mmdet', 'nano', tmp_path / 'cut.pth')
    torch.save({'state_dict': released_state_dict('nano'), 'x': _Unsafe()},
               tmp_path / 'unsafe.pth')
    with pytest.raises(RuntimeError, match='allow-list') as error:
        build('mmdet', 'nano', tmp_path / 'unsafe.pth')
    message = str(error.value)
    assert f'{__name__}._Unsafe' in message  # the global it refused
    assert 'Only if you know and trust where' in message
    with pytest.raises(FileNotFoundError, match='does not exist'):
        build('mmdet', 'nano', tmp_path / 'missing.pth')


@pytest.mark.parametrize('content', [
    b'', b'hello, this is text\n', b'<html><body>404</body></html>',
    bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    pickle.dumps({'weights': [1.0, 2.0]}),
], ids=['empty', 'text', 'html', 'random', 'plain-pickle'])
def test_not_a_checkpoint_is_called_so(content, tmp_path):
    """No allow-list story (and no --trust advice) for files that name no
    global: they are not PyTorch checkpoints."""
    (tmp_path / 'file.pth').write_bytes(content)
    with pytest.raises(RuntimeError, match='is not a PyTorch checkpoint') \
            as error:
        build('mmdet', 'nano', tmp_path / 'file.pth')
    assert 'allow-list' not in str(error.value)
    assert '--trust' not in str(error.value)


@pytest.fixture
def http_dir(tmp_path, monkeypatch):
    """(directory, base URL) of an HTTP server on 127.0.0.1 serving the
    directory; torch's hub cache moved into tmp_path."""
    import functools
    import http.server
    import threading
    served = tmp_path / 'served'
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hub = tmp_path / 'hub'
    monkeypatch.setattr(torch.hub, '_hub_dir', str(hub))
    yield served, f'http://127.0.0.1:{server.server_port}'
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize('form', ['dict', 'list'])
def test_url_checkpoint_downloads_once_then_loads_strictly(form, http_dir):
    served, base = http_dir
    released = released_state_dict('nano', seed=3)
    torch.save({'model': released, 'args': argparse.Namespace(lr=1)},
               served / 'a2mamba_nano.pth')
    pretrained = dict(type='Pretrained',
                      checkpoint=f'{base}/a2mamba_nano.pth')
    init_cfg = pretrained if form == 'dict' else [pretrained]
    from mmseg.registry import MODELS
    model = MODELS.build(dict(type='A2Mamba', arch='nano',
                              init_cfg=init_cfg))
    model.init_weights()
    assert_every_tensor_placed(model, released)
    cached = pathlib.Path(url_cache_path(f'{base}/a2mamba_nano.pth'))
    assert cached.parent == pathlib.Path(torch.hub.get_dir()) / 'checkpoints'
    assert cached.read_bytes() == (served / 'a2mamba_nano.pth').read_bytes()
    (served / 'a2mamba_nano.pth').unlink()  # the second load uses the cache
    assert_every_tensor_placed(
        build('mmdet', 'nano', f'{base}/a2mamba_nano.pth'), released)
    with pytest.raises(RuntimeError, match='could not download.*404'):
        build('mmdet', 'nano', f'{base}/a2mamba_tiny.pth')


def test_url_cache_is_keyed_on_the_whole_url(http_dir):
    """Another URL ending in the same file name is downloaded, not served
    from the first one's cached file; with the server gone, it fails in one
    line instead of loading the unrelated cached weights."""
    served, base = http_dir
    (served / 'other').mkdir()
    first, second = released_state_dict('nano', 5), released_state_dict(
        'nano', 6)
    torch.save(first, served / 'model.pth')
    torch.save(second, served / 'other' / 'model.pth')
    assert_every_tensor_placed(build('mmdet', 'nano', f'{base}/model.pth'),
                               first)
    assert_every_tensor_placed(
        build('mmdet', 'nano', f'{base}/other/model.pth'), second)
    assert url_cache_path(f'{base}/model.pth') != url_cache_path(
        f'{base}/other/model.pth')
    with pytest.raises(RuntimeError, match='could not download') as error:
        build('mmdet', 'nano', 'http://127.0.0.1:9/some/other/model.pth')
    assert '\n' not in str(error.value)


def test_checkpoint_with_unsafe_global_is_named(tmp_path):
    """A pickle that would call os.system is refused as unsafe (naming the
    global), not reported as "not a PyTorch checkpoint"."""
    import os

    class Exploit:
        def __reduce__(self):
            return os.system, ('true', )

    torch.save({'state_dict': {}, 'payload': Exploit()}, tmp_path / 'x.pth')
    with pytest.raises(RuntimeError, match='system') as error:
        build('mmdet', 'nano', tmp_path / 'x.pth')
    assert 'not a PyTorch checkpoint' not in str(error.value)
    assert 'allow-list' in str(error.value)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_list_init_cfg_is_strict_and_applies_the_other_entries(scope,
                                                               tmp_path):
    """mmdet configs often give init_cfg as a list: the Pretrained entry
    must not fall back to mmengine's lenient loader."""
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    released = released_state_dict('nano', seed=4)
    torch.save(released, tmp_path / 'ok.pth')
    constant = dict(type='Constant', layer='Conv2d', val=0.25, bias=0.)
    model = registry.build(dict(
        type='A2Mamba', arch='nano', init_cfg=[
            constant,
            dict(type='Pretrained', checkpoint=str(tmp_path / 'ok.pth'))]))
    model.init_weights()
    assert_every_tensor_placed(model, released)  # loaded after Constant
    torch.save(released_state_dict('tiny'), tmp_path / 'tiny.pth')
    model = registry.build(dict(
        type='A2Mamba', arch='nano', init_cfg=[
            dict(type='Pretrained', checkpoint=str(tmp_path / 'tiny.pth'),
                 prefix=None)]))
    with pytest.raises(RuntimeError, match='another arch'):
        model.init_weights()
    model = registry.build(dict(type='A2Mamba', arch='test', init_cfg=[
        constant]))  # no Pretrained entry: mmengine applies the rest
    model.init_weights()
    assert torch.all(model.stem[0].weight == 0.25)


def test_bad_pretrained_entries_raise(tmp_path):
    torch.save(released_state_dict('nano'), tmp_path / 'ok.pth')
    path = str(tmp_path / 'ok.pth')
    for init_cfg, match in [
            (dict(type='Pretrained', checkpont=path), 'unknown'),
            ([dict(type='Pretrained', checkpoint=path)] * 2, '2 Pretrained')]:
        model = A2Mamba(arch='nano', init_cfg=init_cfg)
        with pytest.raises(ValueError, match=match):
            model.init_weights()


def test_convert_tool_round_trip(tmp_path):
    released = released_state_dict('nano')
    torch.save({'model': released, 'args': argparse.Namespace(lr=1)},
               tmp_path / 'in.pth')
    subprocess.run([sys.executable, str(REPO / 'tools' /
                                        'convert_official_ckpt.py'),
                    str(tmp_path / 'in.pth'), str(tmp_path / 'out.pth')],
                   check=True, cwd=REPO)
    out = torch.load(tmp_path / 'out.pth', weights_only=True)
    assert not any(k.startswith(('layers.', 'patch_embed.'))
                   for k in out['state_dict'])
    model = build('mmdet', 'nano', tmp_path / 'out.pth')
    assert_every_tensor_placed(model, released)
